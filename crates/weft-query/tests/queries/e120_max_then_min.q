# chained scalar filters
{ } | max(duration) > 2s | min(duration) < 400ms
