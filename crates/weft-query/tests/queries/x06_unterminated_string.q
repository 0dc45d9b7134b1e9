# error case
{ name = "GET /cart }
