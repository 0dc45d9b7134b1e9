# kind producer or consumer
{ kind = producer || kind = consumer }
