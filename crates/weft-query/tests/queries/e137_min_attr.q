# min() of an int attribute
{ } | min(span.http.status_code) < 300
