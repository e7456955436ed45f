"""Training: corpora, subword vocabularies, batching, the training loop and its command line."""
