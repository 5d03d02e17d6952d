"""Maps: coverage maps of grid plans (folium/Leaflet)."""
