# minInt and maxInt
{ span.retry.count > minInt && span.retry.count < maxInt }
