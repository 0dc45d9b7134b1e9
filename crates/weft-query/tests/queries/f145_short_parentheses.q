# short form with parentheses and or
(name = "HGET" || name = "HSET") && duration < 4ms
