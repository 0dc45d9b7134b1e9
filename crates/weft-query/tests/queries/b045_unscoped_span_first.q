# unscoped: the span's value first
{ .region = "span-region" }
