# error case
{ name =~ .other }
