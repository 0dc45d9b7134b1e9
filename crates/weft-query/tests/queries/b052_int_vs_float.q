# an int attribute equals a float literal of the same value
{ span.job.id = 42.0 }
