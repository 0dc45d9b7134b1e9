# nil on the left
{ nil != .job.id }
