# by() first; the spans without the value form a nil group
by(span.step) | count() = 1
