# error case
{ foo = 1 }
