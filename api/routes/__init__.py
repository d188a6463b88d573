"""HTTP routes: thin, each calls the service layer (api.services)."""
