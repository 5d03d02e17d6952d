// GCJ-02 shift for overlays on Chinese web base maps (Amap/Gaode): the same formula as
// maps/gcj02.py (tests/maps/test_gcj02_js.py checks that both agree). An ES module: the editor
// imports it, and node (20.19 or later) require()s it; package.json here marks it as a module.
var A = 6378245.0;
var EE = 0.00669342162296594323;
var PI = Math.PI;

function outOfChina(lon, lat) {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function dLat(x, y) {
  var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
  r += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
  r += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
  return r;
}

function dLon(x, y) {
  var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
  r += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
  r += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
  return r;
}

// [lon, lat] WGS84 -> [lon, lat] GCJ-02
function toGcj(lon, lat) {
  if (outOfChina(lon, lat)) return [lon, lat];
  var dlat = dLat(lon - 105.0, lat - 35.0);
  var dlon = dLon(lon - 105.0, lat - 35.0);
  var rad = lat / 180.0 * PI;
  var magic = 1 - EE * Math.sin(rad) * Math.sin(rad);
  var sq = Math.sqrt(magic);
  dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sq) * PI);
  dlon = (dlon * 180.0) / (A / sq * Math.cos(rad) * PI);
  return [lon + dlon, lat + dlat];
}

// [lon, lat] GCJ-02 -> [lon, lat] WGS84, by fixed-point iteration
function toWgs(lon, lat) {
  var w = [lon, lat];
  for (var i = 0; i < 30; i++) {
    var g = toGcj(w[0], w[1]);
    var ex = g[0] - lon, ey = g[1] - lat;
    w = [w[0] - ex, w[1] - ey];
    if (Math.abs(ex) < 1e-9 && Math.abs(ey) < 1e-9) break;
  }
  return w;
}

// Apply fn([lon, lat]) to every position of a GeoJSON geometry, returning a new geometry.
function mapCoords(coords, fn) {
  if (typeof coords[0] === "number") return fn(coords[0], coords[1]);
  return coords.map(function (c) { return mapCoords(c, fn); });
}

function shiftGeometry(geom, inverse) {
  if (!geom) return geom;
  var fn = inverse ? toWgs : toGcj;
  if (geom.type === "GeometryCollection") {
    return { type: geom.type, geometries: geom.geometries.map(function (g) { return shiftGeometry(g, inverse); }) };
  }
  return { type: geom.type, coordinates: mapCoords(geom.coordinates, fn) };
}

export { outOfChina, shiftGeometry, toGcj, toWgs };
