# error case
{ kind = error }
