# span:status with !=
{ span:status != error && resource.service.name = "cart" }
