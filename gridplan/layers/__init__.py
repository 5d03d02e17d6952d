"""Input layers: read files, check them, prepare communities, units, compounds, barriers."""
