# query hints are accepted and ignored (results are always newest first)
{ span.step = 2 } with (most_recent=true, sample=0.5)
