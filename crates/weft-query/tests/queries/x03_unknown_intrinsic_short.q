# error case
durtion > 2s
