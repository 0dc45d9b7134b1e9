# a filter after an aggregate keeps the aggregate
{ } | count() > 10 | { status = error }
