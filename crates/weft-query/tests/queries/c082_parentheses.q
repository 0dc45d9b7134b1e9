# parentheses group
{ name = "HSET" || (name = "HGET" && status = error) }
