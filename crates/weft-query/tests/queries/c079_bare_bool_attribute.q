# a bool attribute alone is a condition
{ .cache.hit }
