# nil = nil is false
{ nil = nil }
