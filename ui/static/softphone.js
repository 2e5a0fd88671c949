// EVSCallPro browser softphone: a WebRTC SIP user agent (JsSIP) in the agent desk.
// While the agent's workstation is Softphone (#agent-status data-workstation), the page
// fetches the agent's own SIP account (GET /softphone), asks for the microphone, registers
// over SIP on WebSocket and answers the agent leg the core places, after a short tone.
// It shows the media state (registered, ringing, in call, no audio), lets the agent pick
// the microphone and mute it. `window.evsSoftphone` exposes the state and the call's
// getStats() for the browser tests.
(function () {
  "use strict";

  var ANSWER_AFTER_MS = 600;   // the tone plays, then the call is answered
  var NO_AUDIO_AFTER_MS = 3000; // in call with no packet received that long: "no audio"
  var MIC_KEY = "evs.softphone.mic";

  var card = null;
  var ua = null;
  var session = null;
  var active = false;
  var starting = false;
  var muted = false;
  var stateName = "off";
  var statsTimer = null;
  var lastPackets = 0;
  var lastPacketsAt = 0;

  function text(key) { return (card && card.getAttribute("data-t-" + key)) || key; }

  function setState(name) {
    stateName = name;
    if (!card) return;
    card.dataset.state = name;
    var badge = document.getElementById("softphone-state");
    if (badge) badge.textContent = text(name);
    var mute = document.getElementById("softphone-mute");
    if (mute) mute.disabled = !(name === "in_call" || name === "no_audio");
  }

  function micConstraint() {
    var chosen = localStorage.getItem(MIC_KEY) || "";
    return chosen ? { deviceId: { exact: chosen } } : true;
  }

  function fillMicrophones() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return Promise.resolve();
    return navigator.mediaDevices.enumerateDevices().then(function (devices) {
      var select = document.getElementById("softphone-mic");
      if (!select) return;
      var chosen = localStorage.getItem(MIC_KEY) || "";
      while (select.options.length > 1) select.remove(1);
      devices.filter(function (d) { return d.kind === "audioinput" && d.deviceId !== "default"; })
        .forEach(function (device, index) {
          var option = document.createElement("option");
          option.value = device.deviceId;
          option.textContent = device.label || (text("mic_default") + " " + (index + 1));
          option.selected = device.deviceId === chosen;
          select.appendChild(option);
        });
    });
  }

  function askMicrophone() {
    return navigator.mediaDevices.getUserMedia({ audio: micConstraint(), video: false })
      .then(function (stream) {
        stream.getTracks().forEach(function (track) { track.stop(); });
        return fillMicrophones();
      });
  }

  // A short two-note tone (Web Audio, no file to fetch): "a call is coming in".
  function playTone() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      [0, 0.2].forEach(function (at, i) {
        var osc = ctx.createOscillator();
        var gain = ctx.createGain();
        osc.frequency.value = i === 0 ? 660 : 880;
        gain.gain.value = 0.15;
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(ctx.currentTime + at);
        osc.stop(ctx.currentTime + at + 0.15);
      });
      setTimeout(function () { ctx.close(); }, 800);
    } catch (e) { /* no audio output: answering still works */ }
  }

  function peerConnection() {
    return session && session.connection ? session.connection : null;
  }

  function readStats() {
    var pc = peerConnection();
    if (!pc) return Promise.resolve(null);
    return pc.getStats().then(function (report) {
      var out = { packetsReceived: 0, packetsSent: 0, audioLevel: null, mediaSourceLevel: null };
      report.forEach(function (s) {
        if (s.type === "inbound-rtp" && s.kind === "audio") {
          out.packetsReceived += s.packetsReceived || 0;
          if (typeof s.audioLevel === "number") out.audioLevel = s.audioLevel;
        } else if (s.type === "outbound-rtp" && s.kind === "audio") {
          out.packetsSent += s.packetsSent || 0;
        } else if (s.type === "media-source" && s.kind === "audio") {
          if (typeof s.audioLevel === "number") out.mediaSourceLevel = s.audioLevel;
        }
      });
      return out;
    });
  }

  function watchMedia() {
    stopWatch();
    lastPackets = 0;
    lastPacketsAt = Date.now();
    statsTimer = setInterval(function () {
      readStats().then(function (stats) {
        if (!stats || !session) return;
        var now = Date.now();
        if (stats.packetsReceived > lastPackets) {
          lastPackets = stats.packetsReceived;
          lastPacketsAt = now;
          if (stateName === "no_audio") setState("in_call");
        } else if (now - lastPacketsAt > NO_AUDIO_AFTER_MS && stateName === "in_call") {
          setState("no_audio");
        }
      });
    }, 1000);
  }

  function stopWatch() {
    if (statsTimer) { clearInterval(statsTimer); statsTimer = null; }
  }

  function setMuted(on) {
    muted = on;
    if (session) {
      if (on) session.mute({ audio: true }); else session.unmute({ audio: true });
    }
    var button = document.getElementById("softphone-mute");
    if (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = text(on ? "unmute" : "mute");
    }
  }

  function callEnded() {
    stopWatch();
    session = null;
    setMuted(false);
    var audio = document.getElementById("softphone-audio");
    if (audio) audio.srcObject = null;
    setState(ua && ua.isRegistered() ? "registered" : (active ? "connecting" : "off"));
  }

  function onNewSession(event) {
    var incoming = event.session;
    if (event.originator !== "remote") return;
    if (session) { incoming.terminate({ status_code: 486, reason_phrase: "Busy Here" }); return; }
    session = incoming;
    setState("ringing");
    incoming.on("peerconnection", function (e) {
      e.peerconnection.addEventListener("track", function (t) {
        var audio = document.getElementById("softphone-audio");
        if (audio && t.streams && t.streams[0]) {
          audio.srcObject = t.streams[0];
          var played = audio.play();
          if (played && played.catch) played.catch(function () { /* autoplay policy */ });
        }
      });
    });
    incoming.on("confirmed", function () { setState("in_call"); watchMedia(); });
    incoming.on("ended", callEnded);
    incoming.on("failed", callEnded);
    playTone();
    setTimeout(function () {
      if (session !== incoming || !incoming.isInProgress()) return;
      incoming.answer({
        mediaConstraints: { audio: micConstraint(), video: false },
        pcConfig: { iceServers: [] }
      });
    }, ANSWER_AFTER_MS);
  }

  function start() {
    if (active || starting) return;
    starting = true;
    setState("connecting");
    fetch("/softphone", { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (!resp.ok) throw new Error("no softphone account");
        return resp.json();
      })
      .then(function (config) {
        return askMicrophone().then(function () { return config; }, function (err) {
          setState("no_mic");
          throw err;
        });
      })
      .then(function (config) {
        starting = false;
        if (!wantSoftphone()) { setState("off"); return; }
        active = true;
        ua = new JsSIP.UA({
          sockets: [new JsSIP.WebSocketInterface(config.ws_url)],
          uri: config.uri,
          authorization_user: config.authorization_user,
          password: config.password,
          display_name: config.display_name,
          register: true,
          register_expires: 300,
          session_timers: true,
          user_agent: "EVSCallPro softphone (JsSIP)"
        });
        ua.on("registered", function () { if (!session) setState("registered"); });
        ua.on("unregistered", function () { if (active && !session) setState("connecting"); });
        ua.on("registrationFailed", function () { setState("failed"); });
        ua.on("disconnected", function () { if (active && !session) setState("disconnected"); });
        ua.on("newRTCSession", onNewSession);
        ua.start();
      })
      .catch(function () {
        starting = false;
        if (stateName === "connecting") setState("failed");
      });
  }

  function stop() {
    active = false;
    stopWatch();
    if (ua) {
      var old = ua;
      ua = null;
      old.stop(); // un-REGISTER, then close the socket
    }
    session = null;
    setState("off");
  }

  function wantSoftphone() {
    var status = document.getElementById("agent-status");
    return !!status && status.dataset.workstation === "softphone";
  }

  function sync() {
    if (!card) return;
    var want = wantSoftphone();
    card.hidden = !want;
    if (want) start(); else if (active || starting) stop();
  }

  function switchMicrophone(deviceId) {
    if (deviceId) localStorage.setItem(MIC_KEY, deviceId); else localStorage.removeItem(MIC_KEY);
    var pc = peerConnection();
    if (!pc) return;
    navigator.mediaDevices.getUserMedia({ audio: micConstraint(), video: false }).then(function (stream) {
      var track = stream.getAudioTracks()[0];
      pc.getSenders().forEach(function (sender) {
        if (sender.track && sender.track.kind === "audio") {
          var old = sender.track;
          track.enabled = !muted;
          sender.replaceTrack(track).then(function () { old.stop(); });
        }
      });
    });
  }

  function init() {
    card = document.getElementById("softphone");
    if (!card || typeof JsSIP === "undefined") return;
    document.getElementById("softphone-mute").addEventListener("click", function () { setMuted(!muted); });
    document.getElementById("softphone-mic").addEventListener("change", function (e) { switchMicrophone(e.target.value); });
    // The agent status card is swapped out-of-band on every change: re-read the workstation.
    document.body.addEventListener("htmx:oobAfterSwap", sync);
    document.body.addEventListener("htmx:afterSettle", sync);
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener("devicechange", fillMicrophones);
    }
    window.evsSoftphone = {
      state: function () { return stateName; },
      muted: function () { return muted; },
      stats: readStats
    };
    sync();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
