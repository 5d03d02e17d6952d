// Sign-in for the start page and the grid editor: name + password → POST /auth/login. The
// token is kept where both pages keep their API key (localStorage "gridplan.apiKey"), so
// every request sends it (as X-API-Key); GET /auth/me names who is signed in and their role,
// POST /auth/logout ends the session. The words come from the page's own i18n table (t).
export var KEY = "gridplan.apiKey";

function keyHeaders(extra) {
  var h = Object.assign({ "Accept": "application/json" }, extra || {});
  var key = localStorage.getItem(KEY);
  if (key) h["X-API-Key"] = key;
  return h;
}

// Draw the sign-in box into `box`; onChange(who, how) after a check ("refresh"), a sign-in
// ("sign_in") and a sign-out ("sign_out"); who = {name, role, via}, name null when nobody
// is signed in.
// Returns { refresh, render, who }: refresh() asks GET /auth/me again, render() redraws
// the box in the current language.
export function mountSignIn(box, t, onChange) {
  var who = { name: null, role: null, via: null };
  var error = null;  // a key of t(), shown under the form

  function render() {
    var name = box.querySelector("#sign-in-name"), pw = box.querySelector("#sign-in-password");
    var kept = [name ? name.value : "", pw ? pw.value : ""];
    box.innerHTML = "";
    box.dataset.signedIn = who.name ? "1" : "0";
    if (who.name && who.via === "session") {
      var me = document.createElement("span");
      me.id = "signed-in";
      me.textContent = t("signed_in_as") + " " + who.name + " · " + t("role_" + who.role);
      var out = document.createElement("button");
      out.type = "button"; out.id = "sign-out"; out.textContent = t("sign_out");
      out.addEventListener("click", signOut);
      box.appendChild(me); box.appendChild(document.createTextNode(" ")); box.appendChild(out);
      return;
    }
    var form = document.createElement("form");
    form.id = "sign-in-form";
    form.innerHTML = '<input id="sign-in-name" autocomplete="username" size="10">' +
      ' <input id="sign-in-password" type="password" autocomplete="current-password" size="10">' +
      ' <button id="sign-in" type="submit"></button> <span id="sign-in-state" role="status"></span>';
    box.appendChild(form);
    form.querySelector("#sign-in-name").placeholder = t("user_name");
    form.querySelector("#sign-in-name").value = kept[0];
    form.querySelector("#sign-in-password").placeholder = t("password");
    form.querySelector("#sign-in-password").value = kept[1];
    form.querySelector("#sign-in").textContent = t("sign_in");
    var st = form.querySelector("#sign-in-state");
    if (who.name) st.textContent = t("signed_in_as") + " " + who.name + " · " + t("role_" + who.role);
    if (error) { st.textContent = t(error); st.className = "bad"; }
    form.addEventListener("submit", function (e) { e.preventDefault(); signIn(); });
  }

  function changed(how) { render(); if (onChange) onChange(who, how); return who; }

  function refresh() {
    return fetch("/auth/me", { headers: keyHeaders() }).then(function (r) {
      return r.ok ? r.json() : { name: null, role: null, via: null };
    }, function () { return { name: null, role: null, via: null }; }).then(function (j) {
      who = { name: j.name || null, role: j.role || null, via: j.via || null };
      return changed("refresh");
    });
  }

  function signIn() {
    var name = box.querySelector("#sign-in-name").value.trim();
    var pw = box.querySelector("#sign-in-password").value;
    if (!name || !pw) { error = "sign_in_missing"; render(); return Promise.resolve(who); }
    return fetch("/auth/login", {
      method: "POST", headers: { "Accept": "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ name: name, password: pw })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { r: r, j: j }; });
    }, function () { return { r: { ok: false, status: 0 }, j: {} }; }).then(function (x) {
      if (!x.r.ok || !x.j.token) {
        error = x.r.status === 401 || x.r.status === 422 ? "sign_in_failed" : "sign_in_offline";
        render(); return who;
      }
      error = null;
      localStorage.setItem(KEY, x.j.token);
      box.querySelector("#sign-in-password").value = "";
      who = { name: x.j.name, role: x.j.role, via: "session" };
      return changed("sign_in");
    });
  }

  function signOut() {
    var token = localStorage.getItem(KEY);
    var done = function () {
      localStorage.removeItem(KEY);
      who = { name: null, role: null, via: null }; error = null;
      return changed("sign_out");
    };
    if (!token) return Promise.resolve(done());
    return fetch("/auth/logout", { method: "POST", headers: { "Authorization": "Bearer " + token } })
      .then(done, done);
  }

  render();
  return { refresh: refresh, render: render, who: function () { return who; }, signOut: signOut };
}
