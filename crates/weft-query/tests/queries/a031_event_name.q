# event:name
{ event:name = "exception" }
