# by() an arithmetic expression
{ span.http.status_code != nil } | by(span.http.status_code / 100)
