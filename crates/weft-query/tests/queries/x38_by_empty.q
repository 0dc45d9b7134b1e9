# error case
{ } | by()
