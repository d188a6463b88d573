"""The benchmark: the product's saga against a bare Temporal saga, measured in one run."""
