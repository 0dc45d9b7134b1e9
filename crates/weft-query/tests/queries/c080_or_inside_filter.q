# or inside a filter
{ name = "HGET" || name = "HSET" }
