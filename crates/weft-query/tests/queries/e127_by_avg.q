# by() then avg()
{ } | by(resource.service.name) | avg(duration) > 1s
