# !< : the last error of a cascade (Tempo's example)
{ status = error } !< { status = error }
