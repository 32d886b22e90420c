"""Does alignment predict performance? Calibrated fits of loss on alignment by train set
(`correlation`) and their figures (`plots`)."""
