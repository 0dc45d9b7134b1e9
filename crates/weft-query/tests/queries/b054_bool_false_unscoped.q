# bool attribute, unscoped
{ .cache.hit = false }
