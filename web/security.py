"""Browser security headers, set on every response in one place.

Every page runs only the scripts and styles served from this origin: no inline script, no inline
style, no plugin, no framing by another site, no form posted elsewhere. Every response other than
the static and vendored files is `no-store`, since officer pages, printed forms, downloads and the
citizen's lookup result all carry personal data. A header a view has already set is kept (the raw
XML and the attachments carry their own sandboxing policy; the lookup its own referrer policy).
"""

from __future__ import annotations

import base64
import hashlib

from flask import Flask, Response, request

# Directive by directive; `'self'` is this origin only. `data:` images are the SVG icons inside
# Bootstrap's and bpmn-js's stylesheets (the select arrow, the navbar toggler); `data:` fonts are
# the BPMN icon font embedded in bpmn-js's stylesheet.
POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

# bpmn-js's modeler writes these `style` attributes into the icons of its align and distribute
# menus. They are allowed by their hashes, on the editor only: no other inline style, no <style>.
MODELER_ICON_STYLES = (
    "fill:currentColor;stroke:currentColor;stroke-width:100;opacity:.5;",
    "fill:none;stroke:currentColor;stroke-width:100;",
    "fill:none;stroke:currentColor;stroke-width:100;stroke-linejoin:round;",
    "stroke:currentColor;stroke-width:100;stroke-linecap:round;",
)


def source_hash(source: str) -> str:
    """The CSP hash source of an inline style or script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# The few pages that need more than the policy above, and why.
WIDENED: dict[str, dict[str, str]] = {
    "processes.editor": {
        "style-src-attr": " ".join(["'unsafe-hashes'", *map(source_hash, MODELER_ICON_STYLES)])
    },
}

# Files that are the same for everybody and may be cached; everything else carries personal data.
CACHEABLE_ENDPOINTS = frozenset(
    {
        "static",
        "vendor.asset",
        "favicon",
        # The public procedure catalogue sets its own caching (web/public_catalogue.py): public for
        # everybody, private when a page names the signed-in officer.
        "public_catalogue.index",
        "public_catalogue.procedure",
        "public_catalogue.diagram",
        "public_catalogue.form_file",
        "public_api.procedures",
        "public_api.procedure_json",
    }
)

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def content_security_policy(endpoint: str | None) -> str:
    """The Content-Security-Policy of a response from this endpoint."""
    directives = POLICY | WIDENED.get(endpoint or "", {})
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def set_security_headers(response: Response) -> Response:
    """Add the browser security headers that the view has not already set."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(request.endpoint))
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # The old browsers' XSS filter is switched off: it could be abused to blank out parts of a page,
    # and the Content-Security-Policy above is the protection that holds.
    headers.setdefault("X-XSS-Protection", "0")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        # Neither the browser nor a proxy keeps a copy of a page with personal data.
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def register(app: Flask) -> None:
    """Set the security headers on every response of the app."""
    app.after_request(set_security_headers)
