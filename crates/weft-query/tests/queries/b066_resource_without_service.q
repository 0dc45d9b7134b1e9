# a resource without service.name
{ resource.host.name = "box-9" }
