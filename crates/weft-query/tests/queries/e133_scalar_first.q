# a pipeline may start with a scalar filter
count() > 4
