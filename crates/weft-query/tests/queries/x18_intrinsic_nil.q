# error case
{ span:status = nil }
