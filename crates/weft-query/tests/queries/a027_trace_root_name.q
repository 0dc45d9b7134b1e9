# trace:rootName
{ trace:rootName = "GET /checkout" && kind = client }
