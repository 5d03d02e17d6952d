// The plan API: URLs, the API key, ETag / If-Match, and the in-flight count.
import { body, S } from "./state.js";

export function apiUrl(path) { return "/plans/" + encodeURIComponent(S.plan) + path; }

function headers(write) {
  var h = { "Accept": "application/json" };
  var key = localStorage.getItem("gridplan.apiKey");
  if (key) h["X-API-Key"] = key;
  if (write) { h["Content-Type"] = "application/json"; h["If-Match"] = S.etag; }
  return h;
}

// in-flight requests; body[data-idle="1"] when none (tests and benchmarks wait on it)
function track(promise) {
  S.inflight = (S.inflight || 0) + 1; body.dataset.idle = "0";
  function done() { S.inflight -= 1; if (!S.inflight) body.dataset.idle = "1"; }
  return promise.then(function (x) { done(); return x; }, function (e) { done(); throw e; });
}

// a read; the page's first reads were started by index.html before the modules loaded
export function getJSON(path) {
  var early = window.gridplanEarly && window.gridplanEarly[path];
  if (early) delete window.gridplanEarly[path];
  return track((early || fetch(apiUrl(path), { headers: headers(false) })).then(function (r) {
    if (!r.ok) return r.text().then(function (x) { throw new Error(r.status + " " + x); });
    var etag = r.headers.get("ETag");
    return r.json().then(function (j) { return { body: j, etag: etag }; });
  }));
}

// an edit, sent with If-Match: the response and its JSON body ({} when it has none)
export function postJSON(path, payload) {
  return track(fetch(apiUrl(path), {
    method: "POST", headers: headers(true), body: JSON.stringify(payload || {})
  }).then(function (r) {
    return r.json().catch(function () { return {}; }).then(function (j) { return { r: r, j: j }; });
  }));
}

// the ETag of the plan after a successful edit
export function keepEtag(r, j) { S.etag = j.etag || r.headers.get("ETag") || S.etag; }

// a request given whole (a suggested fix's `apply`: method, path, headers, body), sent as it
// is with the key added: the response and its JSON body ({} when it has none)
export function sendExact(req) {
  var h = headers(false);
  h["Content-Type"] = "application/json";
  Object.keys(req.headers || {}).forEach(function (k) { h[k] = req.headers[k]; });
  return track(fetch(req.path, {
    method: req.method || "POST", headers: h, body: JSON.stringify(req.body || {})
  }).then(function (r) {
    return r.json().catch(function () { return {}; }).then(function (j) { return { r: r, j: j }; });
  }));
}
