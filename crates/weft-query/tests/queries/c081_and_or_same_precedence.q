# && and || have the same precedence and group left to right, as in Tempo: (HSET or HGET) and error
{ name = "HSET" || name = "HGET" && status = error }
