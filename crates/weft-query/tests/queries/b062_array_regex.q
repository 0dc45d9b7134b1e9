# regex over a string array
{ span.tags =~ "b.*" }
