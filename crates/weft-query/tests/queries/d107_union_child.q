# &> returns both the parent and the child
{ name = "POST /charge" } &> { }
