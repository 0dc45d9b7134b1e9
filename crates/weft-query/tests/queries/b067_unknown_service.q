# a resource without service.name is "unknown_service", as OpenTelemetry says (and the store agrees)
{ resource.service.name = "unknown_service" }
