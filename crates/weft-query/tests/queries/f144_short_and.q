# short form with &&
service.name = "cart" && status = error
