# avg() over every span of a trace
avg(duration) > 1s
