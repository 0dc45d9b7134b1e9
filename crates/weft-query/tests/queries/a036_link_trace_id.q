# link:traceID
{ link:traceID = "0af7651916cd43dd8448eb211c80319c" }
