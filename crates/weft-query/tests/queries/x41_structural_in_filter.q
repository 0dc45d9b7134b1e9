# error case
{ .a = 1 >> .b = 2 }
