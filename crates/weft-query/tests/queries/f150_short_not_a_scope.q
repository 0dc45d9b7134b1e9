# short form: a dotted name close to a short scope name is still an attribute
line.no = 3 || user.id = "abc-123"
