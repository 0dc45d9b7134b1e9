# error case
{ name = "a\qb" }
