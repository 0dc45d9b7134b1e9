# short form: service.name resolves to the resource attribute
service.name = "analysis-worker"
