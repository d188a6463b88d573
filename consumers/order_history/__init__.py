"""The reference consumer: a per-customer order history built from the domain events."""
