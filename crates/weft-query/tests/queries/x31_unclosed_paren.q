# error case
({ .a = 1 }
