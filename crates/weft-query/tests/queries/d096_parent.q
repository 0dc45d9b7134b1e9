# < parent: spans that are the parent of an error span
{ status = error } < { }
