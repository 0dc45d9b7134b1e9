# error case
{ } | count() + 1 > 2
