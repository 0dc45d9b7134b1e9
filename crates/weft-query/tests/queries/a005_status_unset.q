# unset is the status of spans that never set one
{ status = unset && resource.service.name = "legacy" }
