# select() of intrinsics, event and link values (the first event and link)
{ name = "process job" } | select(kind, event:name, link:traceID, instrumentation:name)
