# unscoped: the resource's value when the span has none
{ .deployment.environment = "staging" }
