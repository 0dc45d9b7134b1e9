# arithmetic on durations
{ duration * 2 > 4s }
