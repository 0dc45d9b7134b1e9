# instrumentation scope attribute
{ instrumentation.lang = "rust" && duration > 1s }
