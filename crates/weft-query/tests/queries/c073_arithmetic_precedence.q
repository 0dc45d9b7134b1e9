# * binds tighter than +
{ span.items * 2 + 1 = 2401 }
