// Team work in the browser: composer tabs, "/" canned replies, typing / viewing indicators, notifications
// (in-page + the browser Notification API when permitted), keyboard shortcuts and the help overlay.
(function () {
  "use strict";
  const PRESENCE_EVERY = 3000;
  let cannedCache = { thread: null, items: [] };
  let cannedIndex = 0;
  let lastTyping = 0;
  const watchers = {}; // manager id -> {name, state, until}

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || ""; }
    catch (e) { return ""; }
  }
  function me() { const l = document.querySelector(".layout"); return l ? l.dataset.me : ""; }
  function threadId() { const t = document.getElementById("thread"); return t ? t.dataset.threadId : ""; }
  function post(url, fields) {
    const body = new URLSearchParams(fields);
    return fetch(url, { method: "POST", body: body, credentials: "same-origin",
      headers: { "x-csrftoken": csrf(), "HX-Request": "true" } });
  }

  // ---- composer: reply / note tabs --------------------------------------------------------------------
  function setMode(mode) {
    const reply = document.getElementById("reply-form");
    const note = document.getElementById("note-form");
    if (!reply || !note) return null;
    reply.hidden = mode === "note";
    note.hidden = mode !== "note";
    document.querySelectorAll(".composer-tabs .tab").forEach(function (b) {
      b.classList.toggle("on", b.dataset.mode === mode);
    });
    const box = (mode === "note" ? note : reply).querySelector("textarea");
    if (box) box.focus();
    return box;
  }
  document.addEventListener("click", function (e) {
    const tab = e.target.closest && e.target.closest(".composer-tabs .tab");
    if (tab) { e.preventDefault(); setMode(tab.dataset.mode); }
    if (e.target.closest && e.target.closest("#notif-bell") && window.Notification &&
        Notification.permission === "default") {
      Notification.requestPermission();
    }
    const item = e.target.closest && e.target.closest(".canned-item");
    if (item) { e.preventDefault(); insertCanned(Number(item.dataset.index)); }
  });

  // ---- canned replies: "/" at the start of the reply ------------------------------------------------
  function cannedQuery(box) {
    const upto = box.value.slice(0, box.selectionStart);
    const m = /(^|\n)\/([\p{L}\p{N}_\-]*)$/u.exec(upto);
    return m ? { query: m[2], start: upto.length - m[2].length - 1 } : null;
  }
  function loadCanned() {
    const tid = threadId();
    if (cannedCache.thread === tid) return Promise.resolve(cannedCache.items);
    return fetch("/ui/canned?thread=" + tid, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (items) { cannedCache = { thread: tid, items: items }; return items; });
  }
  function matches(q) {
    return cannedCache.items.filter(function (c) {
      return !q || c.shortcut.toLowerCase().startsWith(q.toLowerCase()) || c.title.toLowerCase().includes(q.toLowerCase());
    });
  }
  function showCanned(box) {
    const menu = document.getElementById("canned-menu");
    const q = cannedQuery(box);
    if (!menu) return;
    if (!q) { menu.hidden = true; return; }
    loadCanned().then(function () {
      const found = matches(q.query);
      cannedIndex = Math.min(cannedIndex, Math.max(found.length - 1, 0));
      menu.innerHTML = "";
      found.forEach(function (c, i) {
        const a = document.createElement("a");
        a.href = "#"; a.className = "canned-item" + (i === cannedIndex ? " on" : ""); a.dataset.index = String(i);
        a.setAttribute("role", "option");
        const b = document.createElement("b"); b.textContent = "/" + c.shortcut;
        const span = document.createElement("span"); span.textContent = " " + c.text;
        a.appendChild(b); a.appendChild(span); menu.appendChild(a);
      });
      menu.hidden = found.length === 0;
    });
  }
  function insertCanned(i) {
    const box = document.querySelector("#reply-form textarea");
    const menu = document.getElementById("canned-menu");
    const q = box && cannedQuery(box);
    if (!box || !q) return;
    const found = matches(q.query);
    const c = found[i];
    if (!c) return;
    const end = box.selectionStart;
    box.value = box.value.slice(0, q.start) + c.text + box.value.slice(end);
    const pos = q.start + c.text.length;
    box.setSelectionRange(pos, pos);
    menu.hidden = true;
    cannedIndex = 0;
    box.focus();
  }

  document.addEventListener("input", function (e) {
    const box = e.target;
    if (!box.closest) return;
    if (box.closest("#reply-form") && box.tagName === "TEXTAREA") showCanned(box);
    if (box.closest(".composer") && box.tagName === "TEXTAREA" && threadId()) {
      const now = Date.now();
      if (now - lastTyping > PRESENCE_EVERY) { lastTyping = now; post("/ui/presence", { thread: threadId(), state: "typing" }); }
    }
  });

  // ---- @mentions in the note box: colleagues by handle or name -------------------------------------
  let mentionIndex = 0;
  function mentionQuery(box) {
    const upto = box.value.slice(0, box.selectionStart);
    const m = /(^|\s)@([\p{L}\p{N}_.\-]*)$/u.exec(upto);  // names in any script
    return m ? { query: m[2], start: upto.length - m[2].length - 1 } : null;
  }
  function people() {
    const menu = document.getElementById("mention-menu");
    try { return JSON.parse((menu && menu.dataset.people) || "[]"); } catch (e) { return []; }
  }
  function mentionMatches(q) {
    const lower = q.toLowerCase();
    return people().filter(function (p) {
      return !q || p.handle.toLowerCase().startsWith(lower) || p.name.toLowerCase().includes(lower);
    });
  }
  function showMentions(box) {
    const menu = document.getElementById("mention-menu");
    const q = mentionQuery(box);
    if (!menu) return;
    if (!q) { menu.hidden = true; return; }
    const found = mentionMatches(q.query);
    mentionIndex = Math.min(mentionIndex, Math.max(found.length - 1, 0));
    menu.textContent = "";
    found.forEach(function (p, i) {
      const a = document.createElement("a");
      a.href = "#"; a.className = "canned-item mention-item" + (i === mentionIndex ? " on" : "");
      a.dataset.index = String(i);
      a.setAttribute("role", "option");
      const b = document.createElement("b"); b.textContent = "@" + p.handle;
      const span = document.createElement("span"); span.textContent = " " + p.name;
      a.appendChild(b); a.appendChild(span); menu.appendChild(a);
    });
    menu.hidden = found.length === 0;
  }
  function insertMention(i) {
    const box = document.getElementById("note-text");
    const menu = document.getElementById("mention-menu");
    const q = box && mentionQuery(box);
    if (!box || !q) return;
    const p = mentionMatches(q.query)[i];
    if (!p) return;
    const end = box.selectionStart;
    const text = "@" + p.handle + " ";
    box.value = box.value.slice(0, q.start) + text + box.value.slice(end);
    const pos = q.start + text.length;
    box.setSelectionRange(pos, pos);
    menu.hidden = true;
    mentionIndex = 0;
    box.focus();
  }
  document.addEventListener("input", function (e) {
    if (e.target && e.target.id === "note-text") showMentions(e.target);
  });
  document.addEventListener("click", function (e) {
    const item = e.target.closest && e.target.closest(".mention-item");
    if (item) { e.preventDefault(); insertMention(Number(item.dataset.index)); }
  });
  document.addEventListener("keydown", function (e) {
    const menu = document.getElementById("mention-menu");
    if (!menu || menu.hidden || !e.target || e.target.id !== "note-text") return;
    const count = menu.querySelectorAll(".mention-item").length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault(); e.stopImmediatePropagation();
      mentionIndex = (mentionIndex + (e.key === "ArrowDown" ? 1 : count - 1)) % Math.max(count, 1);
      showMentions(e.target);
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault(); e.stopImmediatePropagation(); insertMention(mentionIndex);
    } else if (e.key === "Escape") {
      e.stopImmediatePropagation(); menu.hidden = true;
    }
  }, true);

  // ---- presence of colleagues in this thread --------------------------------------------------------
  function renderPresence() {
    const line = document.getElementById("presence-line");
    if (!line) return;
    const now = Date.now();
    line.textContent = "";
    let first = true;
    Object.keys(watchers).forEach(function (id) {
      const w = watchers[id];
      if (w.until < now || String(w.thread) !== threadId()) { delete watchers[id]; return; }
      if (!first) line.appendChild(document.createTextNode(" · "));
      first = false;
      const typingNow = w.state === "typing";
      line.appendChild(document.createTextNode((w.customer ? line.dataset.customer : w.name) + " "));
      line.appendChild(svgIcon(typingNow ? "pen" : "eye"));
      line.appendChild(document.createTextNode(" " + (typingNow ? line.dataset.typing : line.dataset.viewing)));
    });
  }
  function svgIcon(name) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "icon i-" + name);
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS(NS, "use");
    use.setAttribute("href", "/static/icons.svg#i-" + name);
    svg.appendChild(use);
    return svg;
  }
  setInterval(renderPresence, 1000);

  function notifyBrowser(data) {
    if (!window.Notification || Notification.permission !== "granted" || !document.hidden) return;
    const n = new Notification("inbox", { body: (data.data && data.data.text) || "", tag: "inbox-" + (data.data && data.data.id) });
    n.onclick = function () { window.focus(); if (data.thread_id) location.href = "/threads/" + data.thread_id; };
  }

  window.inboxTeam = {
    onEvent: function (data) {
      if (data.type === "presence" && data.data && String(data.data.manager_id) !== me()) {
        if (data.data.state === "left") { delete watchers[data.data.manager_id]; }
        else if (data.thread_id) {
          watchers[data.data.manager_id] = { name: data.data.name || "", state: data.data.state, thread: data.thread_id,
            until: Date.now() + (data.data.state === "typing" ? 6000 : 60000) };
        }
        renderPresence();
      }
      if (data.type === "visitor.typing" && data.thread_id) {  // the website widget's visitor types
        watchers["customer:" + data.thread_id] = { customer: true, state: "typing", thread: data.thread_id, until: Date.now() + 6000 };
        renderPresence();
      }
      if (data.type === "notification.new") {
        document.body.dispatchEvent(new Event("inbox:notifications"));
        notifyBrowser(data);
      }
    },
    refreshHead: function () {
      const tid = threadId();
      const head = document.getElementById("thread-head");
      // not while one of its own forms is being sent: the swap would cut that request off
      if (head && head.querySelector(".htmx-request")) { setTimeout(window.inboxTeam.refreshHead, 300); return; }
      if (tid && head) htmx.ajax("GET", "/ui/threads/" + tid + "/head", { target: head, swap: "outerHTML" });
    },
    viewing: function () {
      const tid = threadId();
      if (tid) post("/ui/presence", { thread: tid, state: "viewing" });
    },
  };
  document.addEventListener("DOMContentLoaded", function () { window.inboxTeam.viewing(); jumpToAnchor(); });
  document.body && document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "thread-pane") { cannedCache = { thread: null, items: [] }; window.inboxTeam.viewing(); }
  });
  setInterval(function () { if (!document.hidden) window.inboxTeam.viewing(); }, 30000);

  function jumpToAnchor() {
    const m = /^#msg-(\d+)$/.exec(location.hash);
    const el = m && document.getElementById("msg-" + m[1]);
    if (el) { el.scrollIntoView({ block: "center" }); el.classList.add("found"); }
  }

  // ---- keyboard shortcuts ----------------------------------------------------------------------------
  function moveThread(step) {
    const items = Array.from(document.querySelectorAll(".thread-item"));
    if (!items.length) return;
    let i = items.findIndex(function (li) { return li.classList.contains("current"); });
    i = i < 0 ? 0 : Math.max(0, Math.min(items.length - 1, i + step));
    const a = items[i].querySelector("a");
    items.forEach(function (li) { li.classList.remove("current"); });
    items[i].classList.add("current");
    if (a) a.click();
  }
  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT" || el.tagName === "SELECT" || el.isContentEditable);
  }
  document.addEventListener("keydown", function (e) {
    const help = document.getElementById("help");
    const menu = document.getElementById("canned-menu");
    if (menu && !menu.hidden && e.target.closest && e.target.closest("#reply-form")) {
      const count = menu.querySelectorAll(".canned-item").length;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        cannedIndex = (cannedIndex + (e.key === "ArrowDown" ? 1 : count - 1)) % Math.max(count, 1);
        showCanned(e.target); return;
      }
      if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); insertCanned(cannedIndex); return; }
      if (e.key === "Escape") { menu.hidden = true; return; }
    }
    if (e.key === "Escape") { if (help) help.hidden = true; if (typing(e.target)) e.target.blur(); return; }
    if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    // e.code names the physical key, so the shortcuts work on any layout (on the Russian one "j" is "о")
    if (e.key === "?" || (e.code === "Slash" && e.shiftKey)) { if (help) help.hidden = !help.hidden; return; }
    switch (e.code) {
      case "KeyJ": moveThread(1); break;
      case "KeyK": moveThread(-1); break;
      case "KeyR": e.preventDefault(); setMode("reply"); break;
      case "KeyN": e.preventDefault(); setMode("note"); break;
      case "KeyA": { const b = document.getElementById("assign-me"); if (b) b.click(); break; }
      case "KeyC": { const b = document.getElementById("close-thread"); if (b) b.click(); break; }
      default: return;
    }
  });

  // ---- undo toast: closing a conversation can be taken back for a few seconds ---------------------
  // The toast opens on the click itself (the button or "c"): a live refresh of the thread head may cut the
  // request's answer off. Its countdown starts when the close request ends; "Undo" waits for it too.
  const UNDO_MS = 8000;
  let toastTimer = null;
  let closing = null; // the close request in flight: {xhr}
  function hideToast() {
    const toast = document.getElementById("toast");
    if (toast) toast.hidden = true;
    clearTimeout(toastTimer);
  }
  function countdown() { clearTimeout(toastTimer); toastTimer = setTimeout(hideToast, UNDO_MS); }
  function showUndo(tid) {
    const toast = document.getElementById("toast");
    if (!toast) return;
    toast.querySelector(".toast-text").textContent = toast.dataset.closed || "";
    toast.dataset.threadId = String(tid);
    toast.hidden = false;
    countdown();
  }
  document.addEventListener("click", function (e) {
    const close = e.target.closest && e.target.closest("#close-thread");
    const head = close && close.closest("#thread-head");
    if (head && head.dataset.threadId) { closing = { xhr: null }; showUndo(head.dataset.threadId); }
  }, true);
  document.addEventListener("htmx:beforeRequest", function (e) {
    const xhr = e.detail && e.detail.xhr;
    const elt = e.detail && e.detail.elt;
    if (!closing || closing.xhr || !xhr || !elt || !elt.querySelector || !elt.querySelector("#close-thread")) return;
    const mine = closing;
    mine.xhr = xhr;
    xhr.addEventListener("loadend", function () {
      if (closing === mine) closing = null;
      countdown();
      if (mine.then) mine.then();
    });
  });
  // the toast stays while the pointer or the focus is on it
  document.addEventListener("mouseover", function (e) {
    if (e.target.closest && e.target.closest("#toast")) clearTimeout(toastTimer);
  });
  document.addEventListener("focusin", function (e) {
    if (e.target.closest && e.target.closest("#toast")) clearTimeout(toastTimer);
  });
  document.addEventListener("click", function (e) {
    const undo = e.target.closest && e.target.closest("#toast .toast-undo");
    if (!undo) return;
    e.preventDefault();
    const toast = document.getElementById("toast");
    const tid = toast.dataset.threadId;
    hideToast();
    if (!tid) return;
    function reopen() {
      const head = document.getElementById("thread-head");
      const here = head && head.dataset.threadId === tid;
      htmx.ajax("POST", "/threads/" + tid + "/status", here
        ? { target: "#thread-head", swap: "outerHTML", values: { status: "open" } }
        : { swap: "none", values: { status: "open" } });
    }
    if (closing && closing.xhr && closing.xhr.readyState !== 4) closing.then = reopen;  // after the close
    else reopen();
  });
})();
