# span:id as hex
{ span:id = "0000000100000009" }
