# event attribute, int
{ event.attempt = 1 }
