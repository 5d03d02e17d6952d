"""The workforce: workload per grid, staffing against the norm, workers assigned to grids."""
