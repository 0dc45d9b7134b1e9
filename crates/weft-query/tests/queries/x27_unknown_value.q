# error case
{ kind = servr }
