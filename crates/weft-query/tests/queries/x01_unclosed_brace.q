# error case
{ duration > 2s
