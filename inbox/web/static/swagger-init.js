// Starts Swagger UI on /api/schema from a static file (the page's Content-Security-Policy allows no inline
// script): the schema is loaded from the URL in the container's data-spec-url.
(function () {
  "use strict";
  var box = document.getElementById("swagger-container");
  if (!box || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: box.getAttribute("data-spec-url"),
    dom_id: "#swagger-container",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIStandalonePreset],
  });
})();
