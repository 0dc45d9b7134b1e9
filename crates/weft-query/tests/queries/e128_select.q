# select() adds values to the spans
{ status = error } | select(span.http.status_code, resource.cloud.region)
