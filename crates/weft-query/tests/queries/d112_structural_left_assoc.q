# structural operators group left to right
{ resource.service.name = "frontend" } >> { kind = server } > { kind = client }
