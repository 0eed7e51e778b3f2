"""Where a form may send the browser next: only a path on this site, never another host.

Every `next` parameter (after sign-in, claiming a work item, marking notifications read) goes
through `same_site`, so a link crafted elsewhere cannot bounce an officer to a look-alike site.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect
from werkzeug.wrappers import Response


def same_site(target: str | None) -> str | None:
    """The target when it is a relative path on this site, else None.

    Refused: absolute and protocol-relative addresses (`https://x`, `//x`), backslashes (browsers
    read `/\\x` as `//x`) and control characters (browsers drop a tab or newline, so `/\\t/x` is `//x`).
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def redirect_back(target: str | None, fallback: str) -> Response:
    """Redirect to the target when it is on this site, else to the fallback."""
    return redirect(same_site(target) or fallback)
