# trace:id, written without leading zeros
{ trace:id = "abc" }
