# a span whose parent is missing still has its children
{ name = "GET /legacy" } > { }
