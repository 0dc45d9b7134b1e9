# event scope attribute
{ event.exception.type = "Timeout" }
