# kind internal
{ kind = internal }
