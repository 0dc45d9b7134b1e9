# &< : cart client spans and their parents
{ kind = client && resource.service.name = "cart" } &< { }
