# !< : leaf spans of a service (Tempo's example)
{ } !< { resource.service.name = "cart" }
