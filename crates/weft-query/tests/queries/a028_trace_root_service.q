# trace:rootService
{ trace:rootService = "frontend" && status = error }
