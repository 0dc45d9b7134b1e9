# unscoped service.name reads the span attribute first
{ .service.name = "clash" }
