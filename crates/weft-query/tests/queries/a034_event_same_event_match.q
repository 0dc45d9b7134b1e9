# both conditions on the exception event
{ event:name = "exception" && event.exception.message =~ ".*issuer" }
