# short form followed by a pipeline
status = error | count() > 3
