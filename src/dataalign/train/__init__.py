"""Models: train a causal LM on a subset's packed tokens (`trainer`), then score a benchmark
subset's cross-entropy and perplexity (`evaluate`)."""
