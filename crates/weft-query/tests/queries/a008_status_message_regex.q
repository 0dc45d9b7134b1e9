# span:statusMessage with a regex alternation
{ span:statusMessage =~ "redis.*|conn.*" }
