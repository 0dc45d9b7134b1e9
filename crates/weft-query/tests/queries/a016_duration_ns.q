# nanoseconds and fractional seconds are the same value
{ duration = 1500000ns && duration = 0.0015s && duration = 1.5ms && duration = 1500µs }
