# error case
{ resource.service.name = nil }
