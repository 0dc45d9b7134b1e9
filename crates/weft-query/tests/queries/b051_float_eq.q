# double equality
{ span.ratio = 0.75 }
