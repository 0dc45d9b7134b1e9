# power
{ span.step ^ 2 = 4 }
