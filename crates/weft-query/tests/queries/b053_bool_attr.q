# bool attribute
{ span.cache.hit = true }
