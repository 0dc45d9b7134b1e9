# error case
{ duration > 2sec }
