# error case
{ .a < }
