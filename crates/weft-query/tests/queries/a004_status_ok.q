# status enum ok
{ status = ok }
