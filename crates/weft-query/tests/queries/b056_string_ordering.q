# strings compare lexicographically
{ span.currency > "EUQ" }
