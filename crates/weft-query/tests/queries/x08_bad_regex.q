# error case
{ name =~ "GET (" }
