# a string literal never equals an int attribute
{ span.http.status_code = "500" }
