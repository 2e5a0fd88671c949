// EVSCallPro browser glue: what htmx cannot do by itself.
// 1. Sign in with a body-less POST (credentials in the Authorization header), because the
//    gateway's HTTP side reads no request bodies.
// 2. Show when the live connection to the server is lost and when it is back.
// 3. Tick the timers ("Connected 00:42"), the wrap-up countdown and the callback
//    reminders between server updates.
(function () {
  "use strict";

  function basicAuth(user, password) {
    var bytes = new TextEncoder().encode(user + ":" + password);
    var binary = "";
    bytes.forEach(function (b) { binary += String.fromCharCode(b); });
    return "Basic " + btoa(binary);
  }

  function setupLogin() {
    var form = document.getElementById("login-form");
    if (!form) return;
    var error = document.getElementById("login-error");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.hidden = true;
      var user = form.elements.user.value.trim();
      var password = form.elements.password.value;
      fetch("/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Authorization": basicAuth(user, password) }
      }).then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
      }).then(function (result) {
        if (result.ok && result.body.location) {
          window.location.assign(result.body.location);
          return;
        }
        var kind = (result.body && result.body.error) || "error";
        error.textContent = form.dataset[kind] || form.dataset.error;
        error.hidden = false;
        form.elements.password.value = "";
        form.elements.password.focus();
      }).catch(function () {
        error.textContent = form.dataset.error;
        error.hidden = false;
      });
    });
  }

  function setupConnectionBanner() {
    var banner = document.getElementById("conn");
    if (!banner) return;
    var hideTimer = null;
    function show(state, text) {
      banner.className = "conn conn-" + state;
      banner.textContent = text;
      banner.dataset.state = state;
      if (hideTimer) { clearTimeout(hideTimer); hideTimer = null; }
    }
    document.body.addEventListener("htmx:wsOpen", function () {
      show("open", banner.dataset.back);
      hideTimer = setTimeout(function () { banner.className = "conn conn-open conn-quiet"; }, 2500);
    });
    document.body.addEventListener("htmx:wsClose", function (event) {
      var code = event.detail && event.detail.event && event.detail.event.code;
      if (code === 1008) {  // session ended (logged out elsewhere): back to the sign-in page
        window.location.assign("/login");
        return;
      }
      if (code === 4000) return;  // our own clean reconnect after the network came back
      if (code === 4008) {  // too many pages open for this session or user: no retry
        show("lost", banner.dataset.tooMany);
        return;
      }
      show("lost", banner.dataset.lost);
      // The extension retries by itself only on 1006/1011/1012/1013; a proxy or server
      // going away (1001...) must not leave the page disconnected for good.
      var wrapper = event.detail && event.detail.socketWrapper;
      if ([1006, 1011, 1012, 1013].indexOf(code) < 0 && wrapper) {
        setTimeout(function () { wrapper.reconnect(); }, 1000);
      }
      // A server restart forgets sessions: if ours is gone, go back to the sign-in page
      // instead of retrying forever. (Network errors: keep retrying.)
      fetch("/session", { credentials: "same-origin", cache: "no-store" }).then(function (resp) {
        if (resp.status === 401) window.location.assign("/login");
      }).catch(function () {});
    });
    // Offline events come before the socket notices (TCP can take a while to time out).
    window.addEventListener("offline", function () { show("lost", banner.dataset.lost); });
    window.addEventListener("online", function () {
      var main = document.querySelector("[ws-connect]");
      var socket = main && main["htmx-internal-data"] && main["htmx-internal-data"].webSocket;
      if (!socket || !socket.socket) return;
      if (socket.socket.readyState === WebSocket.OPEN) {
        // The socket survived: ask for the full state again by reconnecting cleanly.
        socket.socket.close(4000, "network back");
      }
      socket.publicInterface.reconnect();
    });
    // A quick, bounded reconnect instead of the extension's default back-off.
    if (window.htmx) {
      htmx.config.wsReconnectDelay = function (retry) { return Math.min(500 * Math.pow(2, retry), 5000); };
    }
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function format(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(r) : pad(m) + ":" + pad(r);
  }
  // Server time at render (data-now) plus the time since this browser saw the element:
  // immune to a client clock that is off.
  function serverNow(el, nowMs) {
    if (!el.dataset.seenAt) el.dataset.seenAt = String(nowMs);
    return parseFloat(el.dataset.now) + (nowMs - parseFloat(el.dataset.seenAt)) / 1000;
  }
  function tick() {
    var nowMs = Date.now();
    document.querySelectorAll(".timer[data-since]").forEach(function (el) {
      el.textContent = format(serverNow(el, nowMs) - parseFloat(el.dataset.since));
    });
    // Countdowns (the wrap-up limit): time left, never below zero.
    document.querySelectorAll(".timer[data-until]").forEach(function (el) {
      var left = parseFloat(el.dataset.until) - serverNow(el, nowMs);
      el.textContent = format(left);
      el.classList.toggle("timer-low", left <= 10);
    });
    // Callbacks: an item whose time has come turns "due" and the reminder names it.
    var reminder = document.getElementById("callback-reminder");
    var due = [];
    document.querySelectorAll(".agenda-item[data-due]").forEach(function (el) {
      if (serverNow(el, nowMs) >= parseFloat(el.dataset.due)) {
        if (el.classList.contains("later")) {
          el.classList.remove("later");
          el.classList.add("overdue");
          var flag = el.querySelector(".agenda-flag");
          if (flag) flag.textContent = el.dataset.overdueLabel;
        }
        due.push(el.dataset.who);
      }
    });
    if (reminder) {
      var text = due.length ? reminder.dataset.template.replace("{who}", due.join(", ")) : "";
      if (reminder.textContent !== text) reminder.textContent = text;
      reminder.hidden = !due.length;
    }
  }

  // Mirror the agent's state on <body> so controls elsewhere (the contact card's call
  // button) follow it without the server re-rendering them.
  function mirrorAgentState() {
    var badge = document.getElementById("agent-state");
    if (badge) document.body.dataset.agentState = badge.dataset.state;
  }

  document.addEventListener("DOMContentLoaded", function () {
    mirrorAgentState();
    document.body.addEventListener("htmx:wsAfterMessage", mirrorAgentState);
    setupLogin();
    setupConnectionBanner();
    tick();
    setInterval(tick, 1000);
  });
})();
