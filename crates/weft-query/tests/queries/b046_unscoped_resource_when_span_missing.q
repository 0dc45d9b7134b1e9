# unscoped: cl-root's span value shadows the resource's
{ .region = "resource-region" }
