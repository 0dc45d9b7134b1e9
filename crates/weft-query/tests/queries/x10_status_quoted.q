# error case
{ status = "error" }
