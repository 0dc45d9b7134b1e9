# error case
{ parent.x = 1 }
