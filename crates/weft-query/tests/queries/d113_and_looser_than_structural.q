# && binds looser than ~
{ name = "HGET" } ~ { } && { status = ok }
