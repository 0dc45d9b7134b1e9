# or between spansets
{ resource.service.name = "payment" } || { resource.service.name = "legacy" }
