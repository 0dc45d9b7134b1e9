# !<< : server spans that are not an ancestor of a payment span
{ resource.service.name = "payment" } !<< { kind = server }
