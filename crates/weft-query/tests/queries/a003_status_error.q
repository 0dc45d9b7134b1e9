# status enum
{ status = error }
