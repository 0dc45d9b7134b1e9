# regexes match the whole value
{ name =~ "GET" }
