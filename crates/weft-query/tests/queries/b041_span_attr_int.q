# span attribute, int
{ span.http.status_code = 500 }
