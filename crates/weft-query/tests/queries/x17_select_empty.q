# error case
{ } | select()
