# event:timeSinceStart
{ event:timeSinceStart > 1s }
