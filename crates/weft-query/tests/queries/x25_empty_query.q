# error case

