# a trace without a root has no rootService: nil is not unequal to anything
{ trace:rootService != "x" && resource.service.name = "legacy" }
