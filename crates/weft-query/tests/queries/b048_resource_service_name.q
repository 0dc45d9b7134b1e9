# resource.service.name ignores span attributes
{ resource.service.name = "clash" }
