# negation
{ !(status = error) && resource.service.name = "cart" }
