# != nil: the attribute is present
{ span.db.statement != nil }
