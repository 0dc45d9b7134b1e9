# error case
{ name = "x"
  && durtion > 1s }
