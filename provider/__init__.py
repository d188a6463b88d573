"""The simulated payment provider as one shared HTTP service (``python -m provider``)."""
