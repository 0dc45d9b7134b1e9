# error case
{ user.id = "x" }
