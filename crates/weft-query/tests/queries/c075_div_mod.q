# integer division and modulo
{ span.http.status_code % 100 = 0 && span.http.status_code / 100 = 5 }
