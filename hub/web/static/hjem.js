/* Hjem dashboard: live alert board (server-sent events), audible cue, countdowns, and
   fetch-based form actions carrying the CSRF token. Plain JavaScript, no build step. */
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";

  /* ---- audible cue ------------------------------------------------------------------ */
  var audio = null;
  var MUTE_KEY = "hjem.muted";

  function muted() {
    try { return window.localStorage.getItem(MUTE_KEY) === "1"; } catch (e) { return false; }
  }

  function unlockAudio() {
    if (audio || !(window.AudioContext || window.webkitAudioContext)) { return; }
    audio = new (window.AudioContext || window.webkitAudioContext)();
  }
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });

  /* One sound per severity: higher, more beeps and more often the more severe. It repeats
     while an alert is active and not acknowledged (the most severe one sets the sound). */
  var SOUNDS = {
    critical: { freq: 988, beeps: 3, gap: 0.18, every: 10000 },
    high: { freq: 880, beeps: 2, gap: 0.25, every: 20000 },
    medium: { freq: 660, beeps: 2, gap: 0.4, every: 45000 },
    low: { freq: 523, beeps: 1, gap: 0, every: 90000 }
  };
  var SEVERITIES = ["critical", "high", "medium", "low"];
  var lastCue = 0;

  function beep(severity) {
    var sound = SOUNDS[severity] || SOUNDS.high;
    var body = document.body;
    lastCue = Date.now();
    body.setAttribute("data-last-cue", String(lastCue));
    body.setAttribute("data-cue-severity", severity || "high");
    body.setAttribute("data-cue-count", String(Number(body.getAttribute("data-cue-count") || "0") + 1));
    if (muted()) { return; }
    unlockAudio();
    if (!audio) { return; }
    var start = audio.currentTime + 0.01;
    for (var i = 0; i < sound.beeps; i++) {
      var offset = i * (0.2 + sound.gap);
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = severity === "critical" ? "square" : "sine";
      osc.frequency.value = sound.freq;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + offset);
      osc.stop(start + offset + 0.2);
    }
  }

  /* The most severe alert on the board that waits for acknowledgement, or null. */
  function waitingSeverity() {
    for (var i = 0; i < SEVERITIES.length; i++) {
      if (document.querySelector('[data-alert-id][data-state="active_unack"].sev-' + SEVERITIES[i])) {
        return SEVERITIES[i];
      }
    }
    return null;
  }

  function repeatCue() {
    var severity = waitingSeverity();
    if (severity && Date.now() - lastCue >= SOUNDS[severity].every) { beep(severity); }
  }

  function setupMute() {
    var button = document.getElementById("mute-toggle");
    if (!button) { return; }
    var label = button.querySelector(".label");
    function render() {  /* the label says the state: "Lyd til" / "Lyd fra" */
      var off = muted();
      button.setAttribute("data-sound", off ? "off" : "on");
      label.textContent = button.getAttribute(off ? "data-label-off" : "data-label-on");
    }
    button.addEventListener("click", function () {
      try { window.localStorage.setItem(MUTE_KEY, muted() ? "0" : "1"); } catch (e) { /* private mode */ }
      unlockAudio();
      render();
    });
    render();
  }

  /* ---- countdowns ------------------------------------------------------------------- */
  /* Deadlines come from the server's clock; correct for a browser clock that is off. */
  var serverNow = Date.parse(document.body.getAttribute("data-server-now") || "");
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  /* "(om 4 min)": whole minutes left, rounded up, as the server renders it. */
  function tickCountdowns() {
    var now = Date.now() + skew;
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-deadline")) - now) / 1000;
      if (left <= 0) {
        el.classList.add("overdue");
        el.textContent = el.getAttribute("data-overdue") || "0";
        return;
      }
      var text = (el.getAttribute("data-in") || "{n}").replace("{n}", String(Math.ceil(left / 60)));
      if (el.textContent !== text) { el.textContent = text; }
    });
  }

  /* ---- live board ------------------------------------------------------------------- */
  function alertIds(root) {
    var ids = {};
    root.querySelectorAll("[data-alert-id]").forEach(function (el) {
      ids[el.getAttribute("data-alert-id") + "@" + el.getAttribute("data-state")] = true;
    });
    return ids;
  }

  /* A live refresh replaces the list; what someone is typing in a card's note (and where the
     cursor is) must survive it, or an acknowledgement goes out without its note. Returns a
     function that puts the typed text back into the fresh cards with the same alert id. */
  function keepTyped(list) {
    var typed = [];
    var active = document.activeElement;
    list.querySelectorAll("[data-alert-id] input[name], [data-alert-id] textarea[name]")
      .forEach(function (el) {
        if (!el.value && el !== active) { return; }
        typed.push({
          id: el.closest("[data-alert-id]").getAttribute("data-alert-id"),
          name: el.getAttribute("name"),
          value: el.value,
          focused: el === active,
          start: el.selectionStart,
          end: el.selectionEnd
        });
      });
    return function () {
      typed.forEach(function (t) {
        var item = list.querySelector('[data-alert-id="' + CSS.escape(t.id) + '"]');
        var el = item && item.querySelector('[name="' + CSS.escape(t.name) + '"]');
        if (!el) { return; }
        el.value = t.value;
        if (t.focused) {
          el.focus();
          if (t.start !== null) { el.setSelectionRange(t.start, t.end); }
        }
      });
    };
  }

  function setupBoard() {
    var board = document.getElementById("board");
    if (!board) { return; }
    var list = document.getElementById("board-list");
    var live = document.getElementById("live-status");
    var announce = document.getElementById("board-announce");
    var fragmentUrl = board.getAttribute("data-fragment");
    var refreshing = false, again = false;

    function refresh(cue) {
      if (refreshing) { again = true; return; }
      refreshing = true;
      var before = alertIds(list);
      fetch(fragmentUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html === null) { return; }
          var typed = keepTyped(list);
          list.innerHTML = html;
          typed();
          var fresh = [];
          list.querySelectorAll("[data-alert-id]").forEach(function (el) {
            var key = el.getAttribute("data-alert-id") + "@" + el.getAttribute("data-state");
            if (!before[key] && el.getAttribute("data-state") === "active_unack") {
              el.classList.add("is-new");
              fresh.push(el);
            }
          });
          if (fresh.length && cue) {
            beep(waitingSeverity() || "high");
            var title = fresh[0].querySelector(".alert-title");
            if (announce && title) { announce.textContent = title.textContent; }
          }
          var count = list.querySelectorAll("[data-alert-id]").length;
          document.querySelectorAll("[data-open-count]").forEach(function (el) {
            el.textContent = String(count);
            el.hidden = count === 0;
          });
          bindForms(list);
          tickCountdowns();
        })
        .catch(function () { /* the next event or timer retries */ })
        .finally(function () {
          refreshing = false;
          if (again) { again = false; refresh(cue); }
        });
    }

    var streamUrl = board.getAttribute("data-stream");
    if (window.EventSource && streamUrl) {
      var source = new EventSource(streamUrl, { withCredentials: true });
      var onEvent = function () { refresh(true); };
      source.onmessage = onEvent;
      ["alert", "alert_event", "alert.changed", "change"].forEach(function (name) {
        source.addEventListener(name, onEvent);
      });
      source.onopen = function () {
        live.setAttribute("data-state", "open");
        live.querySelector(".text").textContent = live.getAttribute("data-label-open");
        refresh(false);
      };
      source.onerror = function () {
        live.setAttribute("data-state", "error");
        live.querySelector(".text").textContent = live.getAttribute("data-label-error");
        var box = document.getElementById("status-banner");
        if (box) { box.dispatchEvent(new CustomEvent("hjem:status")); }
      };
    }
    board.addEventListener("hjem:refresh", function () { refresh(false); });
    window.setInterval(function () { refresh(false); }, 60000);
  }

  /* ---- status banner (hub.status) ---------------------------------------------------- */
  /* The server renders the banner; the page asks for it every few seconds and when the live
     stream breaks. If the hub does not answer, the page says so itself and hides any
     "all calm" text: silence must never look like safety. */
  var STATUS_POLL_MS = 5000;

  function setupStatus() {
    var box = document.getElementById("status-banner");
    if (!box) { return; }
    var url = box.getAttribute("data-url");
    var last = box.innerHTML.trim();
    var polling = false;

    function calmState() {
      var el = box.querySelector("[data-calm]");
      return el ? el.getAttribute("data-calm") : "unknown";
    }

    function show(html) {
      if (html.trim() === last) { return; }
      var before = calmState();
      box.innerHTML = html;
      last = html.trim();
      if (calmState() !== before) {
        var board = document.getElementById("board");
        if (board) { board.dispatchEvent(new CustomEvent("hjem:refresh")); }
      }
    }

    function unreachable() {
      var banner = document.createElement("div");
      banner.className = "status-banner";
      banner.setAttribute("role", "alert");
      banner.setAttribute("data-calm", "no");
      var title = document.createElement("strong");
      title.className = "status-title";
      title.textContent = box.getAttribute("data-unreachable") || "";
      banner.appendChild(title);
      var holder = document.createElement("div");
      holder.appendChild(banner);
      show(holder.innerHTML);
      document.querySelectorAll("[data-calm-text]").forEach(function (el) { el.hidden = true; });
    }

    function poll() {
      if (polling) { return; }
      polling = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
          if (!r.ok) { throw new Error(String(r.status)); }
          return r.text();
        })
        .then(function (html) { if (html !== null) { show(html); } })
        .catch(unreachable)
        .finally(function () { polling = false; });
    }

    box.addEventListener("hjem:status", poll);
    window.setInterval(poll, STATUS_POLL_MS);
  }

  /* ---- fetch form actions with CSRF --------------------------------------------------- */
  function bindForms(root) {
    root.querySelectorAll("form[data-fetch]").forEach(function (form) {
      if (form.getAttribute("data-bound")) { return; }
      form.setAttribute("data-bound", "1");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var submitter = event.submitter;
        var action = (submitter && submitter.getAttribute("formaction")) || form.getAttribute("action");
        var error = form.querySelector(".form-error");
        var buttons = form.querySelectorAll("button");
        buttons.forEach(function (b) { b.disabled = true; });
        fetch(action, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "X-CSRF-Token": csrfToken,
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded"
          },
          body: new URLSearchParams(new FormData(form))
        }).then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            if (!r.ok) { throw new Error(body.message || body.detail || String(r.status)); }
            var item = form.closest("[data-alert-id]");
            if (item) { item.setAttribute("data-state", body.state || "done"); }
            if (form.hasAttribute("data-reload")) { window.location.reload(); return; }
            var board = document.getElementById("board");
            if (board) { board.dispatchEvent(new CustomEvent("hjem:refresh")); }
          });
        }).catch(function (e) {
          if (error) { error.textContent = e.message; error.hidden = false; }
        }).finally(function () {
          buttons.forEach(function (b) { b.disabled = false; });
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupMute();
    setupStatus();
    setupBoard();
    bindForms(document);
    tickCountdowns();
    window.setInterval(tickCountdowns, 1000);
    if (document.getElementById("board")) { window.setInterval(repeatCue, 1000); }
  });
})();
