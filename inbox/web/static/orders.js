// The order panel beside a thread re-reads itself when its order or the stock of its products changes
// ("order.*" / "stock.changed" events, re-dispatched by app.js as "inbox:event"). While the manager is
// typing in the panel the refresh waits until the field loses focus.
(function () {
  "use strict";
  let timer = null;
  let pending = false;

  function panel() { return document.getElementById("order-panel"); }
  function typing(p) {
    const a = document.activeElement;
    return a && p.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) && a.type !== "search";
  }
  function refresh() {
    const p = panel();
    if (!p || !p.dataset.threadId) return;
    if (typing(p)) { pending = true; return; }
    pending = false;
    const oid = p.dataset.orderId;
    // the server answers 204 (nothing swapped) when the panel already shows exactly this state, e.g. the
    // echo of the manager's own change
    const query = "?digest=" + encodeURIComponent(p.dataset.digest || "") + (oid ? "&order=" + oid : "");
    htmx.ajax("GET", "/ui/threads/" + p.dataset.threadId + "/order-panel" + query,
      { target: "#order-panel", swap: "outerHTML" });
  }
  function later() { clearTimeout(timer); timer = setTimeout(refresh, 200); }

  document.addEventListener("inbox:event", function (e) {
    const data = e.detail || {};
    const p = panel();
    if (!p || !data.type) return;
    if (data.type.indexOf("order.") === 0) {
      if (String(data.thread_id || "") === p.dataset.threadId) later();
    } else if (data.type === "stock.changed") {
      const mine = (p.dataset.productIds || "").split(",").filter(Boolean);
      const changed = ((data.data || {}).product_ids || []).map(String);
      const q = document.getElementById("product-q");
      if ((q && q.value.trim()) || changed.some(function (id) { return mine.indexOf(id) >= 0; })) later();
    }
  });
  // Every re-render of the panel (live or after a change) keeps the product search the manager typed,
  // and runs it again so that the stock figures are fresh.
  let saved = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "order-panel") return;
    const q = document.getElementById("product-q");
    saved = q ? { value: q.value, focused: document.activeElement === q } : null;
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    if (!e.target || e.target.id !== "order-panel") return;  // not the search results' own swaps
    const keep = saved;
    saved = null;
    if (!keep || !keep.value.trim()) return;
    const q = document.getElementById("product-q");
    if (!q || q.value) return;
    q.value = keep.value;
    if (keep.focused) q.focus();
    htmx.trigger(q, "search");
  });
  document.addEventListener("focusout", function (e) {
    const p = panel();
    if (pending && p && p.contains(e.target)) setTimeout(function () { if (pending) refresh(); }, 50);
  });
})();
