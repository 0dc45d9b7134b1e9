# name intrinsic, string equality
{ name = "GET /cart" }
