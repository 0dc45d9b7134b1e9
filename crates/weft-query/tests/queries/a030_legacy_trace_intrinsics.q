# Tempo's older unscoped names rootServiceName, rootName, traceDuration
{ rootServiceName = "analysis-worker" && rootName = "process job" && traceDuration > 2s }
