"""Factories for the clients the processes share; called from ``main()`` or a lifespan."""
