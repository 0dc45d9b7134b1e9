# >> descendant
{ name = "POST checkout" } >> { status = error }
