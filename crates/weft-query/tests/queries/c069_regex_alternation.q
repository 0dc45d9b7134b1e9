# regex alternation
{ name =~ "GET /(cart|quote)" }
