# instrumentation:version is empty for the jobs scope
{ instrumentation:version = "" }
