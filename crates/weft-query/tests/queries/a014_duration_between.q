# duration bounds in ms and s, inclusive
{ duration >= 1000ms && duration <= 1s }
