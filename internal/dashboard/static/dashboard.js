// deskpilot dashboard: live updates, countdowns, the API token and the rollout buttons.
// Plain JavaScript, no dependencies. The pages work without it, minus these.
(function () {
  "use strict";

  var TOKEN_KEY = "deskpilot.apiToken";
  var live = document.getElementById("live");
  var liveState = document.getElementById("live-state");
  var flash = document.getElementById("flash");
  var flashError = document.getElementById("flash-error");
  var demoMeta = document.querySelector('meta[name="deskpilot-demo-token"]');

  // --- The API token: typed once, kept in this tab's sessionStorage, never in the page. ---

  function storedToken() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }
  function token() { return storedToken() || (demoMeta ? demoMeta.content : ""); }

  var form = document.getElementById("token-form");
  var input = document.getElementById("token-input");
  var forget = document.getElementById("token-forget");
  var tokenState = document.getElementById("token-state");

  function showTokenState() {
    if (storedToken()) {
      tokenState.textContent = "Token set for this tab.";
      forget.hidden = false;
    } else if (demoMeta) {
      tokenState.textContent = "Using the demo's token.";
      forget.hidden = true;
    } else {
      tokenState.textContent = "Needed for the buttons.";
      forget.hidden = true;
    }
  }
  form.hidden = false;
  showTokenState();
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = input.value.trim();
    if (v) {
      try { window.sessionStorage.setItem(TOKEN_KEY, v); } catch (e) { /* private mode */ }
    }
    input.value = "";
    showTokenState();
  });
  forget.addEventListener("click", function () {
    try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ }
    showTokenState();
    input.focus();
  });

  // --- Countdowns: each counts down to its data-at-ms on the daemon's clock, which the page
  // and every part carry (data-now-ms, the X-Dashboard-Now header): offset is how far the
  // daemon's clock is from the browser's. ---

  var offset = (Number(live.getAttribute("data-now-ms")) || Date.now()) - Date.now();
  function formatLeft(ms) {
    var s = Math.floor(ms / 1000);
    if (s <= 0) { return "now"; }
    if (s < 60) { return "in " + s + " s"; }
    if (s < 600) { return "in " + Math.floor(s / 60) + " min " + (s % 60) + " s"; }
    if (s < 3600) { return "in " + Math.floor(s / 60) + " min"; }
    if (s < 86400) { return "in " + Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"; }
    return "in " + Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }
  function tick() {
    var now = Date.now() + offset;
    var els = document.querySelectorAll("time.left[data-at-ms]");
    for (var i = 0; i < els.length; i++) {
      var text = formatLeft(Number(els[i].getAttribute("data-at-ms")) - now);
      if (els[i].textContent !== text) { els[i].textContent = text; }
    }
  }
  window.setInterval(tick, 1000);

  // --- Live updates: fetch the page's live part and swap it in when it changed. ---

  var refreshMS = Number(live.getAttribute("data-refresh-ms")) || 0;
  var path = live.getAttribute("data-path") || window.location.pathname;
  var last = null;
  var inFlight = false;

  function refresh() {
    if (inFlight || refreshMS <= 0) { return Promise.resolve(); }
    inFlight = true;
    return window.fetch(path + "?partial=1", { headers: { "Accept": "text/html" }, cache: "no-store", credentials: "same-origin" })
      .then(function (resp) {
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        var serverNow = Number(resp.headers.get("X-Dashboard-Now"));
        if (serverNow) { offset = serverNow - Date.now(); }
        return resp.text();
      })
      .then(function (html) {
        if (html !== last) {
          last = html;
          swap(html);
        }
        tick();
        liveState.textContent = "Live: updated at " + new Date().toLocaleTimeString() + ".";
        liveState.classList.remove("error");
      })
      .catch(function (err) {
        liveState.textContent = "Live updates paused: the daemon did not answer (" + err.message + "); retrying.";
        liveState.classList.add("error");
      })
      .then(function () { inFlight = false; });
  }

  // swap replaces the live part, keeping the keyboard focus on the same control if it is
  // still there (the buttons have stable ids).
  function swap(html) {
    var focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.id : "";
    live.innerHTML = html;
    if (focused) {
      var again = document.getElementById(focused);
      if (again) { again.focus(); }
    }
  }

  if (refreshMS > 0) {
    window.setInterval(function () {
      if (!document.hidden) { refresh(); }
    }, refreshMS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { refresh(); }
    });
  }

  // --- The rollout buttons: confirm, then POST to the API with the bearer token. ---

  function say(msg) { flashError.textContent = ""; flash.textContent = msg; }
  function fail(msg) { flash.textContent = ""; flashError.textContent = msg; }

  // apiError is the message of a failed API answer: its JSON "error" (or "message"), else
  // its text, else its status.
  function apiError(resp, body) {
    try {
      var v = JSON.parse(body);
      if (v && typeof v.error === "string") { return v.error; }
      if (v && v.error && typeof v.error.message === "string") { return v.error.message; }
      if (v && typeof v.message === "string") { return v.message; }
    } catch (e) { /* not JSON */ }
    body = (body || "").trim();
    return body ? body.slice(0, 300) : "HTTP " + resp.status + " " + resp.statusText;
  }

  var done = { approve: "approved.", cancel: "cancel accepted: nothing more starts.", rollback: "rollback started." };

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button[data-action]") : null;
    if (!btn) { return; }
    var kind = btn.getAttribute("data-action");
    var id = btn.getAttribute("data-rollout");
    var tok = token();
    if (!tok) {
      fail("Enter the API token first (server.token), at the top of the page.");
      input.focus();
      return;
    }
    if (!window.confirm(btn.getAttribute("data-confirm"))) { return; }
    btn.disabled = true;
    btn.setAttribute("aria-busy", "true");
    say("Sending " + kind + " for rollout #" + id + "…");
    window.fetch("/api/v1/rollouts/" + encodeURIComponent(id) + "/" + encodeURIComponent(kind), {
      method: "POST",
      headers: { "Authorization": "Bearer " + tok, "X-Deskpilot-User": "dashboard", "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (resp) {
      return resp.text().then(function (body) {
        if (!resp.ok) { throw new Error(apiError(resp, body)); }
        say("Rollout #" + id + ": " + (done[kind] || kind + " accepted."));
      });
    }).catch(function (err) {
      fail("Could not " + kind + " rollout #" + id + ": " + err.message);
    }).then(function () {
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
      return refresh();
    });
  });
})();
