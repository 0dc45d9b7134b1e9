# short form with scoped attributes
resource.cloud.region = "us-east-1" && kind = server
