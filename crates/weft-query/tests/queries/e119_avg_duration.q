# avg(duration)
{ kind = server } | avg(duration) > 500ms
