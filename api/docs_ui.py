"""Interactive API docs: ``GET /docs`` shows ``/openapi.json`` in Swagger UI, served from this process.

The Swagger UI files come from the ``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads
OpenAPI 3.1), so the page needs no CDN and works on a closed operator network. Nothing here is
secret: the page is static and ``/openapi.json`` is already public, so ``/docs`` is served in
every environment. "Try it out" sends the key typed into Authorize as ``X-API-Key`` (the
document's ``ApiKeyAuth`` scheme); the key stays in the browser tab (``persistAuthorization``
off) and every call goes through the same authentication as any other client's.

The page's script is a file of its own, so the Content-Security-Policy allows scripts from this
origin only; ``validatorUrl: null`` keeps Swagger UI from calling its online validator.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("docs_ui", __name__)

DOCS_PATH = "/docs"
# the only files of the bundle the page loads (send_from_directory refuses paths outside it anyway)
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>pims-sync API</title>
  <link rel="stylesheet" href="{DOCS_PATH}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{DOCS_PATH}/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{DOCS_PATH}/swagger-ui-bundle.js"></script>
  <script src="{DOCS_PATH}/init.js"></script>
</body>
</html>
"""

INIT_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    displayRequestDuration: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def _with_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get(DOCS_PATH)
def page() -> Response:
    return _with_headers(Response(PAGE, mimetype="text/html"))


@bp.get(f"{DOCS_PATH}/init.js")
def init_js() -> Response:
    return _with_headers(Response(INIT_JS, mimetype="text/javascript"))


@bp.get(f"{DOCS_PATH}/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    response = send_from_directory(swagger_ui_path, name, max_age=86_400)  # versioned with the package
    return _with_headers(response)
