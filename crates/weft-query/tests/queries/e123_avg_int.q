# avg() of ints is a float
{ span.step != nil } | avg(span.step) = 1.5
