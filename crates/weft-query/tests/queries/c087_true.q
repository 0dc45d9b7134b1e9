# { true } keeps every span
{ true }
