# error case
{ .a = 1 && "x" }
