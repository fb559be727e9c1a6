// Dinsos Tangsel staff dashboard: small progressive enhancements. Every page works without this file;
// it only refreshes parts of pages, previews what a form would do, and keeps the simulator on one page.
(function () {
  "use strict";

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "x-requested-with": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; });
  }

  // <div data-refresh="/url" data-every="1000">: reload the block until it says it is final.
  function stillWaiting(element) {
    if (element.querySelector("[data-final]")) return false;
    if (element.id === "case-messages") return !!element.querySelector(".out-queued, .out-sending");
    return true;
  }

  function refresh(element) {
    var url = element.getAttribute("data-refresh");
    var every = parseInt(element.getAttribute("data-every") || "2000", 10);
    var keepScroll = element.hasAttribute("data-keep-scroll");
    if (keepScroll) element.scrollTop = element.scrollHeight;
    var timer = setInterval(function () {
      get(url).then(function (html) {
        if (html === null || html === element.innerHTML) return;
        var atBottom = element.scrollTop + element.clientHeight >= element.scrollHeight - 30;
        element.innerHTML = html;
        if (keepScroll && atBottom) element.scrollTop = element.scrollHeight;
        if (!stillWaiting(element)) clearInterval(timer);
      });
    }, every);
  }

  // A form part with data-preview-url: show what the form would do while it is filled in.
  function query(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string" && key !== "csrf_token") params.append(key, value);
    });
    return params.toString();
  }

  function preview(part) {
    var form = part.tagName === "FORM" ? part : part.closest("form");
    var target = document.getElementById(part.getAttribute("data-preview-target"));
    if (!form || !target) return;
    var url = part.getAttribute("data-preview-url");
    var pending = null;
    function update() {
      get(url + "?" + query(form)).then(function (html) { if (html !== null) target.innerHTML = html; });
    }
    function later() { clearTimeout(pending); pending = setTimeout(update, 300); }
    part.addEventListener("input", later);
    part.addEventListener("change", later);
    if (part.tagName !== "FORM") update();
  }

  // The simulator: send without leaving the page, then show the new transcript.
  function simulator(form) {
    var lines = document.getElementById(form.getAttribute("data-chat"));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(form, event.submitter || undefined);
      if (event.submitter && event.submitter.name === "choice") {
        data.set("label", event.submitter.textContent.replace(/^\s*\d+\.\s*/, "").trim());
      }
      var text = form.querySelector("input[name=text]");
      fetch(form.getAttribute("action"), {
        method: "POST", body: data, credentials: "same-origin", headers: { "x-requested-with": "fetch" }
      }).then(function (response) { return response.ok ? response.text() : null; }).then(function (html) {
        if (html !== null && lines) { lines.innerHTML = html; lines.scrollTop = lines.scrollHeight; }
        if (text) { text.value = ""; text.focus(); }
        var file = form.querySelector("input[type=file]");
        if (file) file.value = "";
      });
    });
  }

  // The "Suara" page: record a prompt with the microphone (MediaRecorder), listen back, then save it.
  // The server converts whatever the browser recorded (WebM/Opus, OGG, MP4) to OGG/Opus.
  function recorder(box) {
    if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    box.hidden = false;
    var start = box.querySelector(".record-start");
    var stop = box.querySelector(".record-stop");
    var save = box.querySelector(".record-save");
    var preview = box.querySelector(".record-preview");
    var state = box.querySelector(".record-state");
    var words = document.getElementById("voice-words");
    function say(key) { state.textContent = words ? words.getAttribute("data-" + key) || "" : ""; }
    var media = null;
    var chunks = [];
    var blob = null;
    start.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        chunks = [];
        media = new MediaRecorder(stream);
        media.addEventListener("dataavailable", function (event) { if (event.data.size) chunks.push(event.data); });
        media.addEventListener("stop", function () {
          stream.getTracks().forEach(function (track) { track.stop(); });
          blob = new Blob(chunks, { type: media.mimeType || "audio/webm" });
          preview.src = URL.createObjectURL(blob);
          preview.hidden = false;
          save.hidden = false;
          start.hidden = false;
          stop.hidden = true;
          say("");
        });
        media.start();
        start.hidden = true;
        stop.hidden = false;
        save.hidden = true;
        say("recording");
      }, function () { say("no-microphone"); });
    });
    stop.addEventListener("click", function () { if (media && media.state !== "inactive") media.stop(); });
    save.addEventListener("click", function () {
      if (!blob) return;
      var form = box.parentNode.querySelector("form");
      var data = new FormData();
      data.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
      data.append("source", "recorder");
      data.append("audio", blob, "rekaman." + (blob.type.indexOf("ogg") >= 0 ? "ogg" : "webm"));
      save.disabled = true;
      say("saving");
      fetch(box.getAttribute("data-record-url"), { method: "POST", body: data, credentials: "same-origin" })
        .then(function (response) {
          if (response.ok && response.redirected) { window.location.assign(response.url); return; }
          save.disabled = false;
          say("failed");
        }, function () { save.disabled = false; say("failed"); });
    });
  }

  // Live updates: one small request (/live) says whether the queue, the case's thread or the officer's
  // badge changed; only then is the changed part fetched again. Paused while the tab is hidden.
  function live() {
    var parts = Array.prototype.slice.call(document.querySelectorAll("[data-live-src]"));
    var badge = document.getElementById("my-replies");
    if (!badge) return;  // signed out
    var caseRef = null;
    parts.forEach(function (part) { if (part.hasAttribute("data-live-case")) caseRef = part.getAttribute("data-live-case"); });
    var url = "/live" + (caseRef ? "?case=" + encodeURIComponent(caseRef) : "");
    var seen = null;
    var busy = false;
    function reload(part) {
      return get(part.getAttribute("data-live-src")).then(function (html) {
        if (html !== null && html !== part.innerHTML) part.innerHTML = html;
      });
    }
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "x-requested-with": "fetch" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (state) {
          if (state === null) return null;
          badge.textContent = badge.getAttribute("data-label").replace("{count}", state.mine);
          badge.hidden = state.mine === 0;
          var changed = [];
          if (seen !== null) {
            parts.forEach(function (part) {
              var kind = part.getAttribute("data-live");
              if (state[kind] !== seen[kind]) changed.push(reload(part));
            });
          }
          seen = state;
          return Promise.all(changed);
        })
        .catch(function () { return null; })
        .then(function () { busy = false; });
    }
    tick();
    setInterval(tick, 2000);
  }

  // A canned reply chosen from the list is put in the reply box, to send as it is or to edit first.
  function canned(select) {
    var target = document.getElementById(select.getAttribute("data-canned-target"));
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      if (target && option && option.getAttribute("data-body")) target.value = option.getAttribute("data-body");
    });
  }

  // The folded menu on a phone: one button opens and closes it.
  function menu(button) {
    var header = button.closest("header");
    button.addEventListener("click", function () {
      var open = header.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".menu-toggle").forEach(menu);
    document.querySelectorAll("[data-refresh]").forEach(refresh);
    document.querySelectorAll("select[data-canned-target]").forEach(canned);
    live();
    document.querySelectorAll("[data-preview-url]").forEach(preview);
    document.querySelectorAll("form[data-chat]").forEach(simulator);
    document.querySelectorAll("[data-record-url]").forEach(recorder);
  });
})();
