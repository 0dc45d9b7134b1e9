# error case
{ .a > nil }
