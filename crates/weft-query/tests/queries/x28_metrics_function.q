# error case
{ } | rate()
