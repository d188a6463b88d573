"""Real services (Temporal, PostgreSQL, Kafka, SMTP) started from installed binaries.

Used by the dev launcher, the test suite and the benchmark, so that all three run
the same components the same way on a machine without a container engine.
"""
