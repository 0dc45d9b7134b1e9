# = nil: the attribute is absent
{ span.http.method = nil && resource.service.name = "cart" }
