# event conditions hold on one event: no event is both a retry and has an exception type
{ event:name = "retry" && event.exception.type = "CardDeclined" }
