# error case
{ } | max(name) > 1
