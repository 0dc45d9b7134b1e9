# error case
{ trace:status = error }
