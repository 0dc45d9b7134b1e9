# error case
{ "foo" }
