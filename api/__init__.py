"""The gridplan web API (FastAPI)."""
