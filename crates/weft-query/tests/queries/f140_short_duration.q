# short form: duration > 2s
duration > 2s
