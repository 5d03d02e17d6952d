"""Writers and readers of plan folders (GeoJSON, CSV, GeoPackage, report) and export formats."""
