"""Who may read the dashboard and who may press its buttons: token, host and CSRF checks.

- Bound to loopback without a token, any local process may read it; the
  ``Host`` header must name the loopback address, so a web page whose domain
  was rebound to 127.0.0.1 (DNS rebinding) is refused.
- With a token (always, when bound to any other address), each request
  carries it: ``Authorization: Bearer``, the ``?token=`` of the printed URL,
  or the cookie that URL sets (``SameSite=Strict``: never sent cross-site).
- A POST also needs the per-dashboard CSRF token in ``X-CSRF-Token`` (which
  only a same-origin page can read from ``/api/session``; the custom header
  alone forces a CORS preflight, which this server never grants) and, when
  the browser sends ``Origin``, an origin naming this server.

Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import urllib.parse

from ._http import Request

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """The checks of one dashboard, bound to *host*:*port*."""

    def __init__(self, host: str, port: int, token: str | None) -> None:
        self.token = token
        self.csrf = secrets.token_urlsafe(32)
        self.port = port
        self.cookie = f"actorlib_dashboard_{port}"
        self.local_hosts = {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        if is_loopback(host):
            self.local_hosts.add(f"{host}:{port}")

    def refusal(self, request: Request) -> str | None:
        """Why *request* may not read anything, or None."""
        if self.token is None:
            if request.headers.get("host", "") not in self.local_hosts:
                return "this dashboard answers only to its loopback address (Host header)"
            return None
        if self._carried_token(request):
            return None
        return "this dashboard needs its token: open the URL it printed (it ends with ?token=...)"

    def _carried_token(self, request: Request) -> bool:
        assert self.token is not None
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and _same(bearer.removeprefix("Bearer "), self.token):
            return True
        if request.method == "GET":
            query = urllib.parse.parse_qs(request.query).get("token", [])
            if query and _same(query[0], self.token):
                return True
        return _same(self._cookie_of(request), self.token)

    def _cookie_of(self, request: Request) -> str | None:
        for part in request.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie:
                return value
        return None

    def post_refusal(self, request: Request) -> str | None:
        """Why *request* (a POST) may not act, or None."""
        if not _same(request.headers.get("x-csrf-token"), self.csrf):
            return "a POST needs the X-CSRF-Token header from /api/session"
        origin = request.headers.get("origin")
        if origin is not None and origin != f"http://{request.headers.get('host', '')}":
            return "a POST from another origin is refused"
        return None

    def set_cookie(self) -> tuple[str, str] | None:
        """The cookie that lets the page's own requests carry the token."""
        if self.token is None:
            return None
        value = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        return ("Set-Cookie", value)
