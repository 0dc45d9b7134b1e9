# range over an int attribute
{ span.http.status_code >= 400 && span.http.status_code < 500 }
