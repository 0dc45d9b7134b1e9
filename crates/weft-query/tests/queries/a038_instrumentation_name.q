# instrumentation:name
{ instrumentation:name = "io.opentelemetry.redis" }
