"""The live-knowledge retrieval benchmark: a test set, its quality figures, its speed."""
