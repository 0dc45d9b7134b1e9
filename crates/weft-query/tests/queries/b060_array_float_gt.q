# double array, ordering
{ span.weights > 1.0 }
