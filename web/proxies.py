"""The client's real address behind reverse proxies (`MOTCUA_TRUSTED_PROXIES`).

Without a configured proxy the X-Forwarded-* headers are ignored, since any client can send them.
With a number of hops, werkzeug's ProxyFix takes the address that many entries from the right of
X-Forwarded-For (each proxy appends the address it received from). With a list of networks, the
headers are read only when the request comes from one of them, and the client is the rightmost
address of X-Forwarded-For that is not itself a trusted proxy. Rate limits and the metrics check
read `request.remote_addr`, which is then the client's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedNetworks:
    """WSGI middleware: X-Forwarded-For and X-Forwarded-Proto, believed only from these networks."""

    def __init__(self, app: WSGIApplication, networks: Iterable[str]) -> None:
        self.app = app
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def trusted(self, address: str) -> bool:
        """Whether the address is one of the proxies."""
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, remote_addr: str, forwarded_for: str) -> str:
        """The first address, from the right, that is not a trusted proxy (the leftmost if all are)."""
        hops = [remote_addr] + [a.strip() for a in reversed(forwarded_for.split(",")) if a.strip()]
        for address in hops:
            if not self.trusted(address):
                return address
        return hops[-1]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        remote = environ.get("REMOTE_ADDR", "")
        if self.trusted(remote):
            environ["REMOTE_ADDR"] = self.client(remote, environ.get("HTTP_X_FORWARDED_FOR", ""))
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)


def install(app: Flask, trusted: int | tuple[str, ...]) -> None:
    """Wrap the app so that `request.remote_addr` is the client's address behind the trusted proxies."""
    if isinstance(trusted, int):
        if trusted > 0:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted, x_proto=trusted)  # type: ignore[method-assign]
    elif trusted:
        app.wsgi_app = TrustedNetworks(app.wsgi_app, trusted)  # type: ignore[method-assign]
