# resource attribute
{ resource.cloud.region = "us-west-1" && kind = server }
