# error case
{ } }
