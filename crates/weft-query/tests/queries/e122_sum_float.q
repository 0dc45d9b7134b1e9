# sum() of a double attribute
{ } | sum(span.amount) > 100
