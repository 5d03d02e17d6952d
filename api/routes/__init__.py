"""Routers of the web API, one module per topic."""
