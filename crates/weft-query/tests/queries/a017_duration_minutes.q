# minutes and fractional seconds
{ duration < 1m && duration > 2.4s }
