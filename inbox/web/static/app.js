// Live updates: one EventSource per tab. Events name what changed; the page re-reads that part from the
// server (htmx fragments), so a reconnect simply re-reads everything (pub/sub keeps no history).
(function () {
  "use strict";
  let source = null;
  let listTimer = null;

  function layout() { return document.querySelector(".layout"); }
  function currentThreadId() {
    const t = document.getElementById("thread");
    return t ? t.dataset.threadId : "";
  }
  function lastMessageId() {
    const all = document.querySelectorAll("#messages .msg");
    return all.length ? all[all.length - 1].dataset.id : "0";
  }
  function refreshList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(function () {
      const l = layout();
      if (!l) return;
      const qs = l.dataset.filters || ("view=" + encodeURIComponent(l.dataset.view || "all"));
      const current = currentThreadId();
      htmx.ajax("GET", "/ui/threads?" + qs + (current ? "&current=" + current : ""),
        { target: "#thread-list-items", swap: "innerHTML" });
    }, 150);
  }
  function appendNewMessages() {
    const tid = currentThreadId();
    if (!tid) return;
    const box = document.getElementById("messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    fetch("/ui/threads/" + tid + "/messages?after=" + lastMessageId(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!html.trim()) return;
        const tmp = document.createElement("div");
        tmp.innerHTML = html;
        tmp.querySelectorAll(".msg").forEach(function (el) {
          if (!document.getElementById(el.id)) { box.appendChild(el); htmx.process(el); }
        });
        if (atBottom) box.scrollTop = box.scrollHeight;
        flushPending();
      });
  }
  const pendingUpdates = new Set();
  const generation = {};
  function refreshMessage(id) {
    const el = document.getElementById("msg-" + id);
    if (!el) {
      // The update overtook the message itself (its fetch is still in flight): apply it once it lands.
      pendingUpdates.add(String(id));
      appendNewMessages();
      return;
    }
    // Plain fetch, newest request wins: several quick updates of one message must end in its last state.
    const gen = (generation[id] = (generation[id] || 0) + 1);
    fetch("/ui/messages/" + id, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (generation[id] !== gen || !html.trim()) return;
        const current = document.getElementById("msg-" + id);
        const tmp = document.createElement("div");
        tmp.innerHTML = html;
        const fresh = tmp.querySelector(".msg");
        if (!current || !fresh) return;
        current.replaceWith(fresh);
        htmx.process(fresh);
      });
  }
  function flushPending() {
    pendingUpdates.forEach(function (id) {
      if (document.getElementById("msg-" + id)) { pendingUpdates.delete(id); refreshMessage(id); }
    });
  }
  function onEvent(ev) {
    let data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    const tid = String(data.thread_id || "");
    document.dispatchEvent(new CustomEvent("inbox:event", { detail: data }));  // hook for orders.js etc.
    if (data.type === "message.new" || data.type === "thread.updated") refreshList();
    if (tid && tid === currentThreadId()) {
      if (data.type === "message.new") appendNewMessages();
      if (data.type === "message.updated" && data.message_id) refreshMessage(data.message_id);
      if (data.type === "thread.updated") window.inboxTeam && window.inboxTeam.refreshHead();
    }
    if (window.inboxTeam) window.inboxTeam.onEvent(data);
  }
  function connect() {
    if (!layout()) return;
    source = new EventSource("/events");
    const live = document.getElementById("live");
    source.addEventListener("hello", function () {
      if (live) live.className = "live on";
      if (source.resynced) { refreshList(); appendNewMessages(); }
      source.resynced = true;
    });
    source.addEventListener("inbox", onEvent);
    source.onerror = function () { if (live) live.className = "live off"; };
  }
  function scrollDown() {
    const box = document.getElementById("messages");
    if (box) box.scrollTop = box.scrollHeight;
  }
  document.addEventListener("DOMContentLoaded", function () { connect(); scrollDown(); });
  document.body && document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "thread-pane") {
      const t = document.getElementById("thread");
      const l = layout();
      if (t && l) l.dataset.threadId = t.dataset.threadId;
      if (l) l.classList.toggle("has-thread", !!t);  // phones show the conversation instead of the list
      scrollDown();
      refreshList();
    }
  });
  document.addEventListener("inbox:sent", function () { appendNewMessages(); updateSmsCount(); });

  // SMS parts while typing (the server counts the same way in inbox/channels/sms/segments.py before sending):
  // GSM-7 160 / 153 per part, anything else (Cyrillic, emoji) UCS-2 70 / 67 in UTF-16 units.
  const GSM7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ" +
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const GSM7_EXT = "^{}\\[~]|€\f";
  function smsParts(text) {
    let units = 0, gsm = true;
    for (const ch of text) {
      if (GSM7.includes(ch)) units += 1;
      else if (GSM7_EXT.includes(ch)) units += 2;
      else { gsm = false; break; }
    }
    if (!gsm) units = text.length;
    if (!units) return null;
    const single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    const parts = units <= single ? 1 : Math.ceil(units / multi);
    return { parts: parts, left: parts * (parts === 1 ? single : multi) - units, enc: gsm ? "GSM-7" : "UCS-2" };
  }
  function updateSmsCount() {
    const out = document.getElementById("sms-count");
    const text = document.getElementById("reply-text");
    const channel = document.getElementById("reply-channel");
    if (!out || !text) return;
    const info = channel && channel.value === "sms" ? smsParts(text.value) : null;
    if (!info) { out.textContent = ""; return; }
    const max = parseInt(out.dataset.max || "6", 10);
    out.textContent = info.parts + " SMS · " + out.dataset.left + " " + info.left + " · " + info.enc +
      (info.parts > max ? " · " + out.dataset.tooLong : "");
    out.classList.toggle("too-long", info.parts > max);
  }
  document.addEventListener("input", function (e) { if (e.target && e.target.id === "reply-text") updateSmsCount(); });
  document.addEventListener("change", function (e) { if (e.target && e.target.id === "reply-channel") updateSmsCount(); });
  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && e.target.closest && e.target.closest("#reply-form")) {
      e.preventDefault();
      htmx.trigger("#reply-form", "submit");
    }
  });

  // ---- small screens: the header's menu, and conversation / order tabs beside a thread ----------------
  document.addEventListener("click", function (e) {
    const toggle = e.target.closest && e.target.closest("#menu-toggle");
    if (toggle) {
      const top = document.getElementById("top");
      const open = top.classList.toggle("menu-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      return;
    }
    const tab = e.target.closest && e.target.closest(".phone-tab");
    if (tab) {
      const wrap = document.getElementById("thread-wrap");
      const side = tab.dataset.show === "side";
      if (wrap) wrap.classList.toggle("show-side", side);
      document.querySelectorAll(".phone-tab").forEach(function (b) {
        const on = b === tab;
        b.classList.toggle("on", on);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
    }
  });
})();

// Forms that carry data-confirm ask before they submit (the CSP allows no inline handlers).
document.addEventListener("submit", function (e) {
  const form = e.target;
  if (form && form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
}, true);
