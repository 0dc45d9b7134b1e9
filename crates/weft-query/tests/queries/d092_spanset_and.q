# && between spansets: both matched; spans of both are returned
{ resource.service.name = "cart" } && { status = error }
