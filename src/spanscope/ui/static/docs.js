// /docs: Swagger UI over the API's /openapi.json, from the package's own copy of swagger-ui
// (static/vendor/swagger-ui/, Apache-2.0), started from this file rather than an inline
// script so the Content-Security-Policy can keep script-src 'self' (docs/security.md).
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // the default would send the spec to validator.swagger.io
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
