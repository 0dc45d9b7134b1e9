# span:kind unspecified
{ span:kind = unspecified }
