# !~ : cart client spans without an HGET sibling
{ name = "HGET" } !~ { resource.service.name = "cart" && kind = client }
