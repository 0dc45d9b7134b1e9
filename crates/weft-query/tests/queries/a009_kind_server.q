# kind enum
{ kind = server && resource.service.name = "checkout" }
