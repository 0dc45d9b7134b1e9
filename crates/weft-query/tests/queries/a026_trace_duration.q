# trace:duration: every span of the slow trace
{ trace:duration > 2s }
