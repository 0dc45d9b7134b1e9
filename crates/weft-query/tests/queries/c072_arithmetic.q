# arithmetic on an attribute
{ span.http.status_code - 400 = 2 }
