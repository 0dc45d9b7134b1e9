# > child: server spans whose parent is a frontend span
{ resource.service.name = "frontend" } > { kind = server }
