# error case
{ span:nmae = "x" }
