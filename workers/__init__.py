"""Worker processes: one entry point per task queue, or all queues in one process for dev."""
