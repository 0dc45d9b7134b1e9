# sum() of an int attribute
{ resource.service.name = "cart" } | sum(span.http.status_code) >= 1000
