# an array attribute matches = when an element does
{ span.tags = "vip" }
