# << ancestor: every ancestor of the postgres span
{ span.db.system = "postgresql" } << { }
