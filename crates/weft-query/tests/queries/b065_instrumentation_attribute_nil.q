# instrumentation attribute absent
{ instrumentation.lang = nil && resource.service.name != "analysis-worker" }
