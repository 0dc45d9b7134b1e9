# &<< : the failed step and its consumer ancestor
{ name = "analyze.step" && status = error } &<< { kind = consumer }
