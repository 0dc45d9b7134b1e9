# error case
{ duration > "abc" }
