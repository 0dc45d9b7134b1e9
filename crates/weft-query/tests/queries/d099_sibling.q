# ~ sibling: another child of the same parent
{ name = "HGET" } ~ { }
