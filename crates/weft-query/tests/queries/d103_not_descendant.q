# !>> : the first error of each chain
{ status = error } !>> { status = error }
