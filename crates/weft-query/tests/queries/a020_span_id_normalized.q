# span:id written short and uppercase is zero-padded and lowercased
{ span:id = "10000000B" }
