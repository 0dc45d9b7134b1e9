# ~ between two services
{ resource.service.name = "cart" } ~ { resource.service.name = "checkout" }
