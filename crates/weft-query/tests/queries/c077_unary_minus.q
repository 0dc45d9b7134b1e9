# unary minus
{ -span.retry.count < -1 }
