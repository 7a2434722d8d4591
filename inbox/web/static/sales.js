// The segment editor without inline handlers (the pages run under script-src 'self'): add a condition row
// from the <template>, remove one, and let htmx re-count the members after either.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    const add = e.target.closest && e.target.closest("[data-condition-add]");
    const remove = e.target.closest && e.target.closest("[data-condition-remove]");
    const form = document.getElementById("segment-form");
    if (add) {
      const rows = document.getElementById("condition-rows");
      const template = document.getElementById("condition-template");
      if (rows && template) rows.append(template.content.cloneNode(true));
    } else if (remove) {
      const row = remove.closest(".condition");
      if (row) row.remove();
      if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });
})();
