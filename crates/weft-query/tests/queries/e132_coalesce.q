# coalesce() merges the spansets of a trace
{ kind = client } | by(resource.service.name) | coalesce()
