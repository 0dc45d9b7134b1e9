# != does not match spans without the attribute
{ span.http.method != "GET" }
