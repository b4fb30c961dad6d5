// Swagger UI for development, served by the app itself (no CDN). "Authorize" takes a bearer token
// from POST /oauth/token; it is kept in this page only (not persisted).
(function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    persistAuthorization: false,
    validatorUrl: null, // the default would ask validator.swagger.io about the document
  });
})();
