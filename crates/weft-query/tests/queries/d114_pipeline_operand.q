# a parenthesized pipeline as an operand
({ status = error } | count() > 2) && { resource.service.name = "payment" }
