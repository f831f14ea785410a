// Starts Swagger UI on this service's /openapi.json. A file rather than an inline script: the
// page's Content-Security-Policy runs scripts from 'self' only (service/docs.py).
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  // No top bar: its URL box would load any other document into this page.
  layout: "BaseLayout",
  deepLinking: true,
  displayRequestDuration: true,
  // The default sends the document to validator.swagger.io for a badge.
  validatorUrl: null,
  // The API key stays in this tab's memory, never in localStorage.
  persistAuthorization: false,
});
