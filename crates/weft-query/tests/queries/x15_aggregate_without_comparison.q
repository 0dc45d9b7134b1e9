# error case
{ } | count()
