# error case
{ !1 = 1 }
