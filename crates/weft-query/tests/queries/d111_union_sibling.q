# &~ : both siblings
{ span.step = 1 } &~ { span.step = 2 }
