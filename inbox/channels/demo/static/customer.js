// The demo customer page: send what the newcomer types or presses, and show the conversation as the
// customer's messenger would, polling the server once a second (works across processes, no extra setup).
(function () {
  "use strict";
  var root = document.getElementById("play");
  if (!root) return;
  var account = root.dataset.account, user = root.dataset.user, name = root.dataset.name || "";
  var chat = document.getElementById("chat");
  var form = document.getElementById("say");
  var error = document.getElementById("say-error");
  var last = 0, busy = false;

  function post(body) {
    body.account = Number(account);
    body.user = user;
    body.name = name;
    return fetch("/demo/customer/say", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrftoken": root.dataset.csrf },
      body: JSON.stringify(body),
    }).then(function (r) {
      if (r.ok) { error.textContent = ""; return poll(); }
      return r.json().then(function (j) { error.textContent = j.detail || r.statusText; },
                           function () { error.textContent = r.statusText; });
    }, function () { error.textContent = "…"; });
  }

  function bubble(m) {
    var li = document.createElement("li");
    li.className = "bubble " + (m.dir === "in" ? "in" : "out");
    li.id = "m-" + m.id;
    li.dataset.author = m.author;
    var who = document.createElement("span");
    who.className = "who-said";
    who.textContent = m.dir === "in" ? chat.dataset.you : (m.author === "bot" ? chat.dataset.bot : chat.dataset.manager);
    li.appendChild(who);
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    li.appendChild(text);
    if (m.buttons && m.buttons.length) {
      var keys = document.createElement("div");
      keys.className = "keys";
      m.buttons.forEach(function (row) {
        var r = document.createElement("div");
        r.className = "key-row";
        row.forEach(function (b) {
          var el;
          if (b.url) {
            el = document.createElement("a");
            el.href = b.url; el.target = "_blank"; el.rel = "noopener noreferrer";
          } else {
            el = document.createElement("button");
            el.type = "button";
            el.className = "bot-button";
            el.dataset.payload = b.payload || "";
          }
          el.textContent = b.label;
          r.appendChild(el);
        });
        keys.appendChild(r);
      });
      li.appendChild(keys);
    }
    return li;
  }

  function poll() {
    if (busy) return Promise.resolve();
    busy = true;
    var url = "/demo/customer/messages?account=" + encodeURIComponent(account) +
      "&user=" + encodeURIComponent(user) + "&after=" + last;
    return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : []; })
      .then(function (items) {
        items.forEach(function (m) {
          if (document.getElementById("m-" + m.id)) return;
          chat.appendChild(bubble(m));
          last = Math.max(last, m.id);
        });
        if (items.length) chat.parentNode.scrollTop = chat.parentNode.scrollHeight;
      }, function () {}).then(function () { busy = false; });
  }

  chat.addEventListener("click", function (e) {
    var b = e.target.closest("button.bot-button");
    if (!b) return;
    post({ payload: b.dataset.payload });
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var box = form.querySelector("textarea");
    var text = box.value;
    if (!text.trim()) return;
    post({ text: text }).then(function () { if (!error.textContent) box.value = ""; });
  });
  form.querySelector("textarea").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  window.addEventListener("resize", function () { chat.parentNode.scrollTop = chat.parentNode.scrollHeight; });
  poll();
  setInterval(poll, 1000);
})();
