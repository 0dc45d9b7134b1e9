# error case
{ status > ok }
