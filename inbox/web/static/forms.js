// Behaviour that used to sit in inline handlers (onchange=, onclick=, hx-on), so that the pages run under
// a Content-Security-Policy with script-src 'self': auto-submitting selects, clearing the reply and note
// boxes after a send, answering one letter, and letting htmx swap in the customer card's refusals.
(function () {
  "use strict";

  // <select data-autosubmit="form|htmx|here">: submit on change; "here" comes back to this very page
  document.addEventListener("change", function (e) {
    const el = e.target;
    const how = el && el.dataset && el.dataset.autosubmit;
    if (!how || !el.form) return;
    // htmx wires swapped-in content when it settles: wire this form now, or a change made in that moment is lost
    if (how === "htmx") { htmx.process(el.form); htmx.trigger(el.form, "submit"); return; }
    if (how === "here" && el.form.elements.next) el.form.elements.next.value = location.pathname + location.search;
    el.form.submit();
  });

  // <span class="file-pick">: the translated file button shows the chosen file's name (or "no file chosen")
  function showFileName(input) {
    const pick = input.closest && input.closest(".file-pick");
    const name = pick && pick.querySelector(".file-pick-name");
    if (!name) return;
    const files = Array.prototype.map.call(input.files || [], function (f) { return f.name; });
    name.textContent = files.length ? files.join(", ") : name.dataset.none;
  }
  document.addEventListener("change", function (e) {
    if (e.target && e.target.classList && e.target.classList.contains("file-pick-input")) showFileName(e.target);
  });
  document.addEventListener("reset", function (e) {  // a reset empties the input after this event
    const form = e.target;
    window.setTimeout(function () { form.querySelectorAll(".file-pick-input").forEach(showFileName); }, 0);
  });

  // <form data-confirm="question">: a plain (non-htmx) form asks before it is sent
  document.addEventListener("submit", function (e) {
    const form = e.target;
    const question = form && form.dataset && form.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  // after a successful send the reply / note box starts empty again
  document.addEventListener("htmx:afterRequest", function (e) {
    const form = e.detail && e.detail.elt;
    if (!form || !e.detail.successful) return;
    if (form.id === "reply-form") {
      form.reset();
      form.elements.reply_to.value = "";
      const label = document.getElementById("reply-to-label");
      const error = document.getElementById("reply-error");
      if (label) label.textContent = "";
      if (error) error.textContent = "";
    } else if (form.id === "note-form") {
      form.reset();
      const error = document.getElementById("team-error");
      if (error) error.textContent = "";
    }
  });

  // "Answer this letter": the reply goes by email, threaded onto that letter
  document.addEventListener("click", function (e) {
    const button = e.target.closest && e.target.closest(".reply-to-letter");
    if (!button) return;
    const form = document.getElementById("reply-form");
    if (!form) return;
    form.querySelector("[name=reply_to]").value = button.dataset.id;
    const channel = form.querySelector("[name=channel]");
    if (channel) channel.value = "email";
    const label = document.getElementById("reply-to-label");
    if (label) label.textContent = button.dataset.label || "";
    form.querySelector("textarea").focus();
  });

  // the customer card answers a refused edit with the card and the reason (400 / 404 / 409): show it
  document.addEventListener("htmx:beforeSwap", function (e) {
    const xhr = e.detail && e.detail.xhr;
    const card = e.target && e.target.closest && e.target.closest("#customer-card");  // sent from inside it
    if (card && xhr && [400, 404, 409].indexOf(xhr.status) >= 0) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
})();
