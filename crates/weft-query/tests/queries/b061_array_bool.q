# bool array
{ span.flags = true }
