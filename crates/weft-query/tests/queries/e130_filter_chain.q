# filters chained with pipes: each filters the spans of the one before
{ resource.service.name = "checkout" } | { status = error } | { kind = client }
