# statusMessage intrinsic
{ statusMessage = "card declined" }
