# select() of a resource attribute
{ span.user.id != nil } | select(resource.service.name)
