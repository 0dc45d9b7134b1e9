# short form: status = error
status = error
