# !> : legacy spans whose parent is not in the trace
{ } !> { resource.service.name = "legacy" }
