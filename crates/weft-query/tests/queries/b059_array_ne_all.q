# != on an array needs every element to differ; spans without the attribute do not match
{ span.tags != "gold" }
