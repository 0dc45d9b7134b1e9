# microseconds
{ duration < 2000us }
