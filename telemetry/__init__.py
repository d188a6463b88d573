"""Logs with order context, traces and metrics, configured once per process in ``main()``."""
