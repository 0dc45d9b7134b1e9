# by() splits spansets
{ kind = client } | by(resource.service.name)
