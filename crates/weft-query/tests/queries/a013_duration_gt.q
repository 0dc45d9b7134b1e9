# duration greater than one second (1s itself excluded)
{ duration > 1s }
