# error case
{ spna.http.method = "GET" }
