# &>> : a failing endpoint and its failing descendants (Tempo's example)
{ resource.service.name = "checkout" && status = error } &>> { status = error }
