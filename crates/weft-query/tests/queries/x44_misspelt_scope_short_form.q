# error case
resouce.service.name = "cart"
