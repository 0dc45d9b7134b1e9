# a trace through two regions (one span cannot be in both)
{ resource.cloud.region = "us-east-1" } && { resource.cloud.region = "us-west-1" }
