# !~
{ resource.service.name = "frontend" && name !~ "GET.*" }
