# a raw string needs no escapes
{ span.db.statement = `INSERT INTO payments VALUES ($1)` }
