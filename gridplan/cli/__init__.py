"""Command line: ``gridplan plan | demo | staff | serve | map | microgrids | replan | merge``."""
