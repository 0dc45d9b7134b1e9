# a root span's parentID is the empty string (spans with a missing parent keep theirs)
{ span:parentID = "" }
