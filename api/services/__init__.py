"""The service layer the routes call: it owns the rules, the routes only translate HTTP."""
