# span:name is the same intrinsic as name
{ span:name = "HSET" }
