"""The webhook sender's HTTP client: one POST on a kept-alive HTTP/1.1 connection, over
the standard library's http.client.

Why not httpx: a webhook POST through httpx cost ~2 ms of the Celery worker's CPU (its
request and response models, header merging, cookie jar, httpcore's pool state machine),
more than the signing, the two database statements and Celery around it together. This
client does only what a webhook needs, the way the old one was configured:

- a timeout of `timeout` seconds on connecting and on every read and write;
- no redirects followed (a 3xx is an answer like any other non-2xx), no proxies, no
  cookies, no compression;
- `address` pins the connection to an IP already checked (the SSRF guard, see
  services/webhooks.py): the host NAME still goes in the Host header and, for https, in
  SNI and the certificate check (verified against the system's and certifi's CAs), and
  is never resolved again. Connections are pooled per (scheme, name, port, address), so
  a connection whose certificate was checked for one name never carries another's
  request;
- an idle pooled connection the server has closed (or written to) is dropped before use;
  if a reused connection still fails before any answer, the request is sent once more on
  a new connection (webhooks are at-least-once: receivers dedupe on the event id).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from urllib.parse import urlsplit

MAX_IDLE_PER_TARGET = 16
MAX_TARGETS = 256
MAX_ANSWER_BYTES = 64 * 1024  # what we read of an answer; a bigger one closes the connection


class ConnectError(OSError):
    """The connection could not be made (refused, unreachable, TLS handshake failed)."""


_ssl_context: ssl.SSLContext | None = None
_lock = threading.Lock()
_idle: dict[tuple, list[http.client.HTTPConnection]] = {}


def _tls() -> ssl.SSLContext:
    # Built once: loading the CA bundle takes ~0.2 s.
    global _ssl_context
    if _ssl_context is None:
        context = ssl.create_default_context()
        try:
            import certifi  # what httpx trusted; the system store stays trusted too

            context.load_verify_locations(cafile=certifi.where())
        except ImportError:  # pragma: no cover (httpx, a dependency, brings certifi)
            pass
        _ssl_context = context
    return _ssl_context


class _HTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str | None, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def _open(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.address or self.host, self.port), self.timeout)
        except OSError as e:
            raise ConnectError(str(e)) from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def connect(self) -> None:
        self.sock = self._open()


class _HTTPS(_HTTP):
    default_port = 443

    def connect(self) -> None:
        sock = self._open()
        try:
            self.sock = _tls().wrap_socket(sock, server_hostname=self.host)
        except (ssl.SSLError, OSError) as e:
            sock.close()
            raise ConnectError(f"TLS: {e}") from e


def _usable(conn: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection is usable if the server has neither closed it nor
    sent anything unasked (either makes the socket readable)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _take(target: tuple) -> http.client.HTTPConnection | None:
    with _lock:
        idle = _idle.get(target)
        while idle:
            conn = idle.pop()
            if _usable(conn):
                return conn
            conn.close()
    return None


def _give_back(target: tuple, conn: http.client.HTTPConnection) -> None:
    with _lock:
        idle = _idle.get(target)
        if idle is None:
            if len(_idle) >= MAX_TARGETS:  # forget the oldest target's idle connections
                for old in _idle.pop(next(iter(_idle))):
                    old.close()
            idle = _idle[target] = []
        if len(idle) < MAX_IDLE_PER_TARGET:
            idle.append(conn)
            return
    conn.close()


def post(
    url: str, body: bytes, headers: dict, *, address: str | None = None, timeout: float = 5.0
) -> int:
    """POST `body` to `url` and return the answer's status code. Raises ConnectError,
    OSError (timeouts included), http.client.HTTPException or ValueError (a bad URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url[:100]}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    target = (parts.scheme, host, port, address)
    conn = _take(target)
    for fresh in (False, True) if conn is not None else (True,):
        if fresh:
            conn = (_HTTPS if parts.scheme == "https" else _HTTP)(host, port, address, timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            answer = conn.getresponse()
            answer.read(MAX_ANSWER_BYTES)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            if fresh:
                raise
            continue  # a kept-alive connection the server dropped: once more, on a new one
        except BaseException:
            conn.close()
            raise
        if answer.isclosed() and not answer.will_close:
            _give_back(target, conn)
        else:  # the server closes it, or the answer was longer than we read
            conn.close()
        return answer.status
    raise AssertionError("unreachable")  # pragma: no cover
