# span:parentID: the children of co-srv
{ span:parentID = "0000000100000007" }
