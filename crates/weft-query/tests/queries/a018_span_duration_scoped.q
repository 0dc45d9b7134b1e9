# span:duration
{ span:duration >= 2100ms }
