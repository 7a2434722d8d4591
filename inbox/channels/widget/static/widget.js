/* inbox website widget: one <script src=".../widget.js" data-key="..." async> on a shop's page.
   Plain JS, no build step. Everything lives in a shadow root (the page's styles do not reach in, ours do not
   leak out); styles are a constructed stylesheet and the DOM is built with createElement/textContent, so a
   strict Content-Security-Policy (no inline script or style) only needs the inbox origin in script-src,
   connect-src and img-src. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='widget.js']");
  if (!script || window.__inboxWidget) return;
  window.__inboxWidget = true;
  var src = new URL(script.src, location.href);
  var BASE = src.href.replace(/\/widget\.js(\?.*)?$/, "");
  var KEY = script.getAttribute("data-key") || "";
  var STORE = "inbox-widget:" + KEY;
  var S = {}; // strings from the server, in the visitor's language
  var cfg = null, token = null, lastId = 0, open = false, es = null, unread = 0;
  var seen = {}; // message ids and client ids already shown
  var typingSent = 0, typingTimer = null;

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launch{position:fixed;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:0;",
    "background:var(--accent);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;",
    "align-items:center;justify-content:center}",
    ".right .launch,.right .panel{right:20px}.left .launch,.left .panel{left:20px}",
    ".launch svg{width:28px;height:28px;fill:currentColor}",
    ".badge{position:absolute;top:-4px;right:-4px;background:#b3261e;color:#fff;border-radius:10px;",
    "font-size:12px;min-width:20px;height:20px;line-height:20px;text-align:center;padding:0 5px}",
    ".panel{position:fixed;bottom:88px;z-index:2147483000;width:370px;max-width:calc(100vw - 24px);",
    "height:560px;max-height:calc(100vh - 110px);background:#fff;color:#1a1a1a;border-radius:14px;",
    "box-shadow:0 8px 30px rgba(0,0,0,.28);display:flex;flex-direction:column;overflow:hidden;font-size:15px}",
    ".panel[hidden]{display:none}",
    "@media (max-width:480px){.panel{left:8px!important;right:8px!important;bottom:80px;width:auto;",
    "height:calc(100vh - 96px);max-height:none}}",
    "header{background:var(--accent);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}",
    "header h2{font-size:16px;margin:0;flex:1;font-weight:600;color:#fff}",
    ".x{background:transparent;border:0;color:#fff;font-size:22px;line-height:1;cursor:pointer;padding:4px 8px;",
    "border-radius:6px}",
    "button:focus-visible,textarea:focus-visible,input:focus-visible,a:focus-visible,label:focus-within{",
    "outline:3px solid #111;outline-offset:2px}",
    "header button:focus-visible{outline-color:#fff}",
    ".log{flex:1;overflow-y:auto;padding:12px;background:#f4f5f7;margin:0}",
    ".msg{max-width:85%;margin:6px 0;padding:8px 11px;border-radius:12px;white-space:pre-wrap;",
    "word-wrap:break-word;line-height:1.35}",
    ".in{margin-left:auto;background:var(--accent);color:#fff;border-bottom-right-radius:4px}",
    ".out{background:#fff;color:#1a1a1a;border:1px solid #d9dce1;border-bottom-left-radius:4px}",
    ".greet{background:#fff;border:1px dashed #b9bec7;color:#333}",
    ".who{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    ".pending{opacity:.7}",
    ".btns{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}",
    ".btns button,.btns a{border:1px solid var(--accent);background:#fff;color:#1a1a1a;border-radius:16px;",
    "padding:6px 12px;font-size:14px;cursor:pointer;text-decoration:none}",
    ".btns button[disabled]{opacity:.55;cursor:default}",
    ".att a{color:inherit;text-decoration:underline}.att img{max-width:220px;max-height:220px;display:block;",
    "border-radius:8px;margin-top:4px}",
    ".typing{font-size:13px;color:#444;padding:2px 14px;min-height:20px;background:#f4f5f7}",
    ".note{font-size:13px;padding:8px 12px;background:#fff8e1;color:#3b2f00;border-top:1px solid #eadc9a}",
    ".err{font-size:13px;padding:6px 12px;color:#8c1d18;background:#fdecea}",
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #e2e4e8;background:#fff;align-items:flex-end}",
    "textarea,input[type=text]{flex:1;border:1px solid #8a9099;border-radius:10px;padding:8px 10px;",
    "font-size:15px;resize:none;color:#1a1a1a;background:#fff;min-height:38px;max-height:120px}",
    ".send,.attach,.small{border:0;border-radius:10px;background:var(--accent);color:#fff;cursor:pointer;",
    "min-width:40px;height:38px;padding:0 12px;font-size:14px;display:inline-flex;align-items:center;",
    "justify-content:center}",
    ".attach{background:#e7e9ed;color:#1a1a1a}",
    ".attach input{position:absolute;width:1px;height:1px;opacity:0}",
    ".contact{flex-direction:column;align-items:stretch}",
    ".contact label{font-size:13px;color:#333}",
    ".row{display:flex;gap:6px}",
    ".agree{display:flex;gap:6px;align-items:flex-start}.agree input{width:18px;height:18px;margin:1px 0 0;flex:none}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
  ].join("");

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function t(name, vars) {
    var s = S[name] || name;
    for (var k in vars || {}) s = s.split("{" + k + "}").join(vars[k]);
    return s;
  }
  function rid() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function url(path, extra) {
    return BASE + "/widget/" + path + "?key=" + encodeURIComponent(KEY) + (extra || "");
  }
  function api(method, path, body, headers, extra) {
    var h = { Authorization: "Bearer " + (token || "") };
    if (body !== undefined && !(body instanceof Blob)) h["Content-Type"] = "application/json";
    for (var k in headers || {}) h[k] = headers[k];
    return fetch(url(path, extra), {
      method: method, headers: h, mode: "cors", credentials: "omit",
      body: body === undefined ? undefined : body instanceof Blob ? body : JSON.stringify(body),
    }).then(function (r) {
      if (r.status === 204) return {};
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { var e = new Error(j.detail || ("HTTP " + r.status)); e.status = r.status; throw e; }
        return j;
      });
    });
  }

  // ---- the DOM ---------------------------------------------------------------------------------------------
  var host = el("div", { "data-inbox-widget": "" });
  var root = host.attachShadow({ mode: "open" });
  if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", { text: CSS }));
  }
  var wrap = el("div", { class: "right" });
  var badge = el("span", { class: "badge", hidden: "" });
  var launch = el("button", { class: "launch", type: "button", "aria-expanded": "false", "aria-controls": "iw-panel" });
  launch.appendChild(svgBubble());
  launch.appendChild(badge);
  var title = el("h2", { id: "iw-title" });
  var closeBtn = el("button", { class: "x", type: "button", text: "×" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-labelledby": "iw-title" });
  var typingLine = el("div", { class: "typing", "aria-live": "polite" });
  var note = el("div", { class: "note", hidden: "" });
  var err = el("div", { class: "err", role: "alert", hidden: "" });
  var text = el("textarea", { id: "iw-text", rows: "1" });
  var textLabel = el("label", { for: "iw-text", class: "sr" });
  var file = el("input", { type: "file", id: "iw-file" });
  var attach = el("label", { class: "attach", for: "iw-file" }, [el("span", { "aria-hidden": "true", text: "+" }), el("span", { class: "sr" })]);
  attach.appendChild(file);
  var sendBtn = el("button", { class: "send", type: "submit" });
  var form = el("form", {}, [textLabel, attach, text, sendBtn]);
  var contactForm = el("form", { class: "contact", hidden: "" });
  var panel = el("div", { class: "panel", id: "iw-panel", role: "dialog", "aria-labelledby": "iw-title", hidden: "" }, [
    el("header", {}, [title, closeBtn]), note, log, typingLine, err, contactForm, form,
  ]);
  wrap.appendChild(launch);
  wrap.appendChild(panel);
  root.appendChild(wrap);

  function svgBubble() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 2-2z");
    svg.appendChild(p);
    return svg;
  }

  function showError(msg) {
    err.textContent = msg;
    err.hidden = !msg;
  }

  function setOpen(v) {
    open = v;
    panel.hidden = !v;
    launch.setAttribute("aria-expanded", v ? "true" : "false");
    launch.setAttribute("aria-label", v ? t("close") : t("open"));
    if (v) {
      unread = 0;
      badge.hidden = true;
      text.focus();
      log.scrollTop = log.scrollHeight;
    } else {
      launch.focus();
    }
  }

  // ---- messages --------------------------------------------------------------------------------------------
  function addMessage(m) {
    if (m.id && seen["id:" + m.id]) return;
    var pending = m.ext && seen["ext:" + m.ext];
    if (pending && m.id) {
      pending.remove();
      delete seen["ext:" + m.ext];
    } else if (pending) return;
    var li = el("div", { class: "msg " + (m.dir === "in" ? "in" : "out") + (m.id ? "" : " pending") });
    li.appendChild(el("span", { class: "who", text: (m.dir === "in" ? t("you") : t("shop")) + ": " }));
    if (m.text) li.appendChild(el("span", { class: "text", text: m.text }));
    (m.attachments || []).forEach(function (a) {
      var box = el("div", { class: "att" });
      if (/^image\//.test(a.type)) {
        box.appendChild(el("a", { href: a.url, target: "_blank", rel: "noopener" }, [el("img", { src: a.url, alt: a.name })]));
      } else {
        box.appendChild(el("a", { href: a.url, target: "_blank", rel: "noopener", text: t("file") + ": " + a.name }));
      }
      li.appendChild(box);
    });
    (m.buttons || []).forEach(function (row) {
      var r = el("div", { class: "btns" });
      row.forEach(function (b) {
        if (b.url) r.appendChild(el("a", { href: b.url, target: "_blank", rel: "noopener", text: b.label }));
        else r.appendChild(el("button", { type: "button", text: b.label, onclick: function (ev) { press(ev.target, r, b); } }));
      });
      li.appendChild(r);
    });
    if (m.id) {
      seen["id:" + m.id] = li;
      if (m.id > lastId) lastId = m.id;
    } else if (m.ext) seen["ext:" + m.ext] = li;
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    if (!open && m.dir === "out") {
      unread += 1;
      badge.textContent = String(unread);
      badge.hidden = false;
      launch.setAttribute("aria-label", t("open") + " (" + t("new_message") + ": " + unread + ")");
    }
  }

  function loadHistory() {
    return api("GET", "history", undefined, null, "&after=" + lastId).then(function (j) {
      var queued = [];
      (j.messages || []).forEach(function (m) {
        addMessage(m);
        if (m.dir === "out" && m.delivery === "queued") queued.push(m.id);
      });
      if (j.messages && j.messages.length) typingLine.textContent = "";
      if (queued.length) setTimeout(function () { api("POST", "seen", { ids: queued }).catch(function () {}); }, 2000);
    });
  }

  function press(btn, row, b) {
    Array.prototype.forEach.call(row.querySelectorAll("button"), function (x) { x.disabled = true; });
    btn.setAttribute("aria-pressed", "true");
    api("POST", "button", { id: rid(), payload: b.payload || b.label }).catch(function (e) {
      Array.prototype.forEach.call(row.querySelectorAll("button"), function (x) { x.disabled = false; });
      showError(e.message);
    });
  }

  function send(body, shown) {
    var id = rid();
    body.id = id;
    body.page = location.href;
    addMessage({ ext: id, dir: "in", text: shown });
    return api("POST", "send", body).then(function () { showError(""); }, function (e) {
      var li = seen["ext:" + id];
      if (li) li.remove();
      delete seen["ext:" + id];
      showError(e.message);
      throw e;
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = text.value.trim();
    if (!v) return;
    if (cfg && v.length > cfg.max_text) { showError(t("too_long")); return; }
    text.value = "";
    send({ text: v }, v).catch(function () { text.value = v; });
  });
  text.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });
  text.addEventListener("input", function () {
    var now = Date.now();
    if (now - typingSent > 3000 && text.value) { typingSent = now; api("POST", "typing", {}).catch(function () {}); }
  });
  file.addEventListener("change", function () {
    var f = file.files && file.files[0];
    file.value = "";
    if (!f || !cfg) return;
    if (f.size > cfg.max_upload) { showError(t("too_big")); return; }
    if (cfg.upload_types.indexOf(f.type) < 0) { showError(t("bad_type")); return; }
    api("POST", "upload", f, { "Content-Type": f.type, "X-Filename": encodeURIComponent(f.name) }).then(function (j) {
      var caption = text.value.trim();
      text.value = "";
      return send({ text: caption, attachments: [j.ref] }, (caption ? caption + "\n" : "") + t("file") + ": " + j.name);
    }).catch(function (e) { showError(e.message); });
  });
  closeBtn.addEventListener("click", function () { setOpen(false); });
  launch.addEventListener("click", function () { setOpen(!open); });
  panel.addEventListener("keydown", function (ev) { if (ev.key === "Escape") setOpen(false); });

  // ---- contact and confirmation ----------------------------------------------------------------------------
  function contactStep() {
    contactForm.textContent = "";
    var input = el("input", { type: "text", id: "iw-contact", autocomplete: "email", inputmode: "email" });
    var btn = el("button", { class: "small", type: "submit", text: t("get_code") });
    contactForm.appendChild(el("label", { for: "iw-contact", text: cfg.online ? t("contact_hint") : t("contact_label") }));
    contactForm.appendChild(el("div", { class: "row" }, [input, btn]));
    var agree = el("input", { type: "checkbox", id: "iw-consent", name: "consent" });
    contactForm.appendChild(el("label", { class: "agree", for: "iw-consent" }, [agree, t("consent")]));
    contactForm.onsubmit = function (ev) {
      ev.preventDefault();
      var v = input.value.trim();
      if (!v) return;
      api("POST", "contact", { contact: v, offline: !cfg.online, consent: agree.checked }).then(function (j) { codeStep(j.address); }, function (e) { showError(e.message); });
    };
    contactForm.hidden = false;
  }
  function codeStep(address) {
    showError("");
    contactForm.textContent = "";
    var input = el("input", { type: "text", id: "iw-code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "8" });
    contactForm.appendChild(el("label", { for: "iw-code", text: t("code_sent", { address: address }) }));
    contactForm.appendChild(el("div", { class: "row" }, [input, el("button", { class: "small", type: "submit", text: t("confirm") })]));
    contactForm.onsubmit = function (ev) {
      ev.preventDefault();
      api("POST", "confirm", { code: input.value }).then(function (j) {
        contactForm.textContent = "";
        contactForm.appendChild(el("p", { role: "status", text: t("confirmed", { address: j.confirmed }) }));
        try { localStorage.setItem(STORE + ":confirmed", j.confirmed); } catch (e) { /* private mode */ }
      }, function (e) { showError(e.message); });
    };
    input.focus();
  }

  // ---- live updates ----------------------------------------------------------------------------------------
  function connect() {
    if (es) es.close();
    es = new EventSource(url("stream", "&token=" + encodeURIComponent(token)));
    es.addEventListener("hello", function () { loadHistory().catch(function () {}); });
    es.addEventListener("message", function (ev) {
      var d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      if (d.type === "message") loadHistory().catch(function () {});
      else if (d.type === "echo") addMessage({ ext: d.ext, dir: "in", text: d.text });
      else if (d.type === "typing") {
        typingLine.textContent = t("typing");
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typingLine.textContent = ""; }, 5000);
      }
    });
  }

  // ---- start -----------------------------------------------------------------------------------------------
  function start() {
    var saved = null;
    try { saved = localStorage.getItem(STORE); } catch (e) { /* storage blocked */ }
    var body = { token: saved, lang: document.documentElement.lang || navigator.language || "" };
    var uid = script.getAttribute("data-customer-id");
    if (uid) { body.user = uid; body.user_sig = script.getAttribute("data-customer-sig") || ""; body.name = script.getAttribute("data-customer-name") || ""; }
    api("POST", "session", body).then(function (j) {
      cfg = j;
      S = j.strings || {};
      token = j.token;
      try { localStorage.setItem(STORE, token); } catch (e) { /* storage blocked */ }
      host.style.setProperty("--accent", j.color);
      wrap.className = j.position === "left" ? "left" : "right";
      title.textContent = j.title;
      closeBtn.setAttribute("aria-label", t("close"));
      launch.setAttribute("aria-label", t("open"));
      text.setAttribute("placeholder", t("placeholder"));
      textLabel.textContent = t("placeholder");
      attach.querySelector(".sr").textContent = t("attach");
      attach.setAttribute("title", t("attach"));
      sendBtn.textContent = t("send");
      panel.setAttribute("lang", j.locale);
      var greet = el("div", { class: "msg out greet", text: j.greeting });
      log.appendChild(greet);
      if (!j.online) { note.textContent = t("offline"); note.hidden = false; }
      var confirmed = null;
      try { confirmed = localStorage.getItem(STORE + ":confirmed"); } catch (e) { /* storage blocked */ }
      if (!confirmed) contactStep();
      document.body.appendChild(host);
      loadHistory().catch(function () {});
      connect();
    }).catch(function (e) { if (window.console) console.warn("inbox widget:", e.message); });
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
