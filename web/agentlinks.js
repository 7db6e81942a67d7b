/*! AgentLinks tracking script. <script src="https://HOST/agentlinks.js" data-app-id="app_..." async></script> */
(function (w, d) {
  "use strict";
  var s = d.currentScript || d.querySelector("script[data-app-id]");
  if (!s || w.AgentLinks && w.AgentLinks.loaded) return;
  var appId = s.getAttribute("data-app-id") || "";
  // The API is the server this script was loaded from.
  var api = new URL(s.src, location.href).origin;
  var NAME = "agentlinks_ref", DAY = 864e5;

  function warn(e) { if (w.console) console.warn("AgentLinks:", e && e.message || e); }

  function getRef() {
    var m = d.cookie.match(/(?:^|;\s*)agentlinks_ref=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  // Stores the ref for `days` on the widest domain the browser accepts
  // (example.com for www.example.com), so it survives across the site's pages
  // and subdomains; localhost and IP addresses get a host-only cookie.
  function setRef(ref, days) {
    var c = NAME + "=" + encodeURIComponent(ref) + "; expires=" + new Date(Date.now() + days * DAY).toUTCString() +
      "; path=/; SameSite=Lax" + (location.protocol == "https:" ? "; Secure" : "");
    var h = location.hostname, parts = h.split(".");
    if (parts.length > 1 && !/^[\d.]+$/.test(h) && h.indexOf(":") < 0) {
      for (var i = parts.length - 2; i >= 0; i--) {
        d.cookie = c + "; domain=" + parts.slice(i).join(".");
        if (getRef() == ref) return;
      }
    }
    d.cookie = c;
  }

  function post(path, body) {
    body.app_id = appId;
    return fetch(api + path + "?app_id=" + encodeURIComponent(appId), {
      method: "POST", mode: "cors", credentials: "omit", keepalive: true,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error && j.error.message || "HTTP " + r.status);
        return j;
      });
    });
  }

  function track(path, o, fields) {
    var ref = getRef();
    if (!ref) return Promise.resolve(null); // came direct: nothing to attribute
    var body = { ref: ref };
    o = o || {};
    for (var i = 0; i < fields.length; i++) if (o[fields[i]] != null) body[fields[i]] = o[fields[i]];
    if (body.user_id != null) body.user_id = String(body.user_id);
    return post(path, body);
  }

  var al = {
    loaded: true,
    getRef: getRef,
    trackSignup: function (o) { return track("/api/track/signup", o, ["user_id", "email"]); },
    trackConversion: function (o) {
      return track("/api/track/conversion", o, ["user_id", "amount_cents", "currency", "transaction_id"]);
    }
  };
  var queued = w.AgentLinks && w.AgentLinks.q || [];
  w.AgentLinks = al;

  var ref = new URLSearchParams(location.search).get("ref");
  if (ref && /^[A-Za-z0-9_-]{3,32}$/.test(ref)) {
    setRef(ref, 60);
    post("/api/track/click", { ref: ref, url: location.href, referrer: d.referrer }).then(function (j) {
      if (j.cookie_days && j.cookie_days != 60) setRef(ref, j.cookie_days); // the app's cookie window
    }).catch(warn);
  }
  // Calls made through the stub before this script loaded.
  for (var i = 0; i < queued.length; i++) {
    var q = queued[i], f = al[q[0]];
    var p = f ? f.apply(al, q[1]) : Promise.reject(new Error("no method " + q[0]));
    if (q[2]) p.then(q[2], q[3]); else p.catch(warn);
  }
})(window, document);
