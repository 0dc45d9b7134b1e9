# < and <= with durations
{ duration <= 5ms && duration < 5000001ns }
