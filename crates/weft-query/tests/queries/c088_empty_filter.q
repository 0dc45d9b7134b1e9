# { } keeps every span
{ }
