# a service with more than one error (Tempo's example)
{ status = error } | by(resource.service.name) | count() > 1
