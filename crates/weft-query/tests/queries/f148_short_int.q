# short form with an int
http.status_code = 404
