# span:childCount
{ span:childCount > 2 }
