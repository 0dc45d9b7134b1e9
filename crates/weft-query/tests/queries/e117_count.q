# count()
{ status = error } | count() > 2
