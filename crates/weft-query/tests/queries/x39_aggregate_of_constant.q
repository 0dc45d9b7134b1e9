# error case
{ } | sum(3) > 1
