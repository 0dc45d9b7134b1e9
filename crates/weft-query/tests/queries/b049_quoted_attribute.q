# quoted attribute name with spaces
{ span."key with spaces" = "spaced" }
