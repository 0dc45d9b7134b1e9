# leaf spans of a service
{ span:childCount = 0 && resource.service.name = "payment" }
