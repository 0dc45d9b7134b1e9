# short form: a dotted name is an unscoped attribute
user.id = "abc-123"
