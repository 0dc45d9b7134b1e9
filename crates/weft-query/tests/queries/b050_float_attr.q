# double attribute ranges
{ span.amount > 100.5 && span.amount < 130 }
