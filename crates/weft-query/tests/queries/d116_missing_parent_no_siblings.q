# spans without a parent are not siblings
{ resource.service.name = "legacy" } ~ { }
