# link:spanID and a link attribute named link.kind
{ link:spanID = "000000010000000b" && link.link.kind = "follows_from" }
