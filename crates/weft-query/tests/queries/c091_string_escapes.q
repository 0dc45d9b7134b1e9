# escapes in a string
{ span.db.statement =~ "INSERT INTO payments VALUES \\(\\$1\\)" && span.db.statement != "a\"b\n" }
