// ReDoc for development, served by the app itself (no CDN, no web fonts: the system's fonts).
(function () {
  "use strict";
  Redoc.init("openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));
})();
