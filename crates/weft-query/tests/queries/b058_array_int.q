# int array
{ span.ports = 8443 }
