# count() =
{ resource.service.name = "legacy" } | count() = 3
