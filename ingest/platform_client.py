"""HTTP client for the provincial procurement platform's API (招采子系统).

What it does for every request:

- **authentication**: ``Authorization: Bearer <token>``; the token comes from
  ``YAOCAI_PLATFORM_TOKEN`` or the Airflow connection ``yaocai_platform``
  (password = token, host = base URL) and is never put in a URL, a log line
  or an exception text (``redact``). On HTTP 401 the token is read again (it
  may have been rotated in the environment or the connection) and the
  request is repeated once; a second 401 fails with ``PlatformAuthError``;
- **retries** with exponential backoff and jitter on 5xx, 429 (honouring
  ``Retry-After``), timeouts, dropped connections and truncated bodies;
  other 4xx fail at once (retrying cannot help);
- a **client-side rate limit** (minimum spacing between request starts);
- **response envelope** ``{"code": 0, "msg": …, "data": {"total", "pageNo",
  "pageSize", "list": [...]}}`` as provincial platforms answer; a non-zero
  code is an error with the platform's message;
- **bounds** (issue 13, item 5): a platform that answers badly must not hold
  the night or the machine. The body is streamed and the request stopped
  as soon as it exceeds ``max_response_bytes`` (a 2 GiB answer was read
  whole: 4.4 GB RSS); every GET has a total deadline over all its attempts
  and waits, and the whole pull one too. Connect and read timeouts cannot
  do this: a server sending one byte every 10 s never trips a 30 s read
  timeout. A watchdog thread therefore shuts the request's socket down when
  the deadline passes, which wakes the blocked read at once. Redirects are
  followed only within the base URL's origin (scheme, host, port) or to the
  origins listed in ``YAOCAI_PLATFORM_REDIRECT_ORIGINS``; the token is sent
  to the base URL's origin only. Each of these ends the pull with a
  ``PlatformLimitError`` naming the limit and its setting; pages committed
  before stay, the watermark of the failing page does not move.

Paging, watermarks and landing are in ``ingest.platform_loader``.

Settings (environment; the defaults suit a real platform):
``YAOCAI_PLATFORM_URL``, ``YAOCAI_PLATFORM_TOKEN``,
``YAOCAI_PLATFORM_TIMEOUT`` (read timeout, s, default 30),
``YAOCAI_PLATFORM_RETRIES`` (default 5), ``YAOCAI_PLATFORM_BACKOFF`` (first
backoff, s, default 1), ``YAOCAI_PLATFORM_RATE`` (requests per second,
default 5), ``YAOCAI_PLATFORM_PAGE_SIZE`` (default 500),
``YAOCAI_PLATFORM_MAX_RESPONSE_MB`` (default 64),
``YAOCAI_PLATFORM_REQUEST_DEADLINE`` (s, default 300: one GET, retries and
backoff included), ``YAOCAI_PLATFORM_PULL_DEADLINE`` (s, default 7200),
``YAOCAI_PLATFORM_REDIRECT_ORIGINS`` (comma-separated, default none).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import sys
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

log = logging.getLogger("yaocai.platform")

CONNECTION_ID = "yaocai_platform"
URL_ENV = "YAOCAI_PLATFORM_URL"
TOKEN_ENV = "YAOCAI_PLATFORM_TOKEN"
MISSING_SETTINGS = (f"the platform API needs {URL_ENV} and {TOKEN_ENV} (or the Airflow connection "
                    f"'{CONNECTION_ID}': host = base URL, password = token)")


class PlatformError(RuntimeError):
    """The platform could not be read; the message never contains the token."""


class PlatformAuthError(PlatformError):
    """The platform rejected the token (HTTP 401) even after reading it again."""


class PlatformLimitError(PlatformError):
    """An answer over a bound: too large, too slow (request or pull deadline),
    or redirected to another origin. Not retried within the pull."""


# --- secrets -------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",}]+")
_TOKEN_PARAM = re.compile(r"(?i)((?:access_?token|token|apikey|api_key)=)[^&\s'\"]+")


def register_secret(secret: str | None) -> None:
    """Remember a secret so ``redact`` removes it from any text; inside an
    Airflow task it is also masked in the task logs."""
    if not secret or len(secret) < 4:
        return
    with _SECRETS_LOCK:
        if secret in _SECRETS:
            return
        _SECRETS.add(secret)
    if _in_airflow_task():  # Airflow's masker then hides it in the task logs too
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(secret, TOKEN_ENV)
        except Exception:  # noqa: BLE001 - an older Airflow: redact() still applies
            pass


def _in_airflow_task() -> bool:
    """Running inside an Airflow task (the SDK's task runner is loaded); the
    CLI never imports Airflow (it costs seconds and configures logging)."""
    return "airflow.sdk.execution_time.task_runner" in sys.modules


def redact(text: object) -> str:
    """The text with every registered secret, bearer value and token query
    parameter replaced by ***."""
    result = str(text)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        result = result.replace(secret, "***")
    result = _BEARER.sub(r"\1***", result)
    return _TOKEN_PARAM.sub(r"\1***", result)


class _RedactingFilter(logging.Filter):
    """Last line of defence: redact the platform loggers' records (e.g. a
    third-party exception text passed through ``%s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
        return True


log.addFilter(_RedactingFilter())


# --- settings --------------------------------------------------------------

def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise PlatformError(f"{name} must be a number, got {text!r}") from None


def _airflow_connection() -> tuple[str | None, str | None]:
    """(base URL, token) of the Airflow connection, or (None, None)."""
    # Looked up only inside an Airflow task or when the connection is given
    # in the environment: importing Airflow costs seconds in the CLI.
    if not (_in_airflow_task() or os.environ.get(f"AIRFLOW_CONN_{CONNECTION_ID.upper()}")):
        return None, None
    try:
        from airflow.sdk import Connection

        conn = Connection.get(CONNECTION_ID)
    except Exception:  # noqa: BLE001 - no such connection / not in Airflow
        return None, None
    register_secret(conn.password)
    extra = conn.extra_dejson if isinstance(getattr(conn, "extra_dejson", None), dict) else {}
    url = extra.get("url")
    if not url and conn.host:
        if "://" in conn.host:
            url = conn.host
        else:
            scheme = next((s for s in (conn.schema, conn.conn_type) if s in ("http", "https")), "https")
            url = f"{scheme}://{conn.host}" + (f":{conn.port}" if conn.port else "")
    return url, conn.password


def read_token() -> str:
    """The current token, read afresh (environment first, then the Airflow
    connection), so a token rotated during a run is picked up on a 401."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        token = (_airflow_connection()[1] or "").strip()
    if not token:
        raise PlatformError(MISSING_SETTINGS)
    register_secret(token)
    return token


def read_base_url() -> str:
    url = os.environ.get(URL_ENV, "").strip() or (_airflow_connection()[0] or "").strip()
    if not url:
        raise PlatformError(MISSING_SETTINGS)
    if not url.startswith(("http://", "https://")):
        raise PlatformError(f"{URL_ENV} must start with http:// or https://")
    return url.rstrip("/")


@dataclass
class ClientSettings:
    base_url: str
    token_provider: Callable[[], str] = read_token
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_retries: int = 5           # retries after the first attempt
    backoff: float = 1.0           # first wait; doubles each retry (with jitter)
    max_backoff: float = 60.0
    rate_per_second: float = 5.0   # client-side limit on request starts
    page_size: int = 500
    # Bounds (issue 13). A page of 500 records is ~0.3 MB; 64 MiB leaves
    # room for page sizes far above the default.
    max_response_bytes: int = 64 * 2**20
    request_deadline: float = 300.0  # one GET: all attempts, backoff waits and body reads
    pull_deadline: float = 7200.0    # the whole pull; committed pages stay, the next pull resumes
    redirect_origins: tuple[str, ...] = ()  # origins besides the base URL's a redirect may go to

    @classmethod
    def from_environment(cls) -> ClientSettings:
        return cls(
            base_url=read_base_url(),
            read_timeout=_env_number("YAOCAI_PLATFORM_TIMEOUT", 30.0),
            max_retries=int(_env_number("YAOCAI_PLATFORM_RETRIES", 5)),
            backoff=_env_number("YAOCAI_PLATFORM_BACKOFF", 1.0),
            rate_per_second=_env_number("YAOCAI_PLATFORM_RATE", 5.0),
            page_size=int(_env_number("YAOCAI_PLATFORM_PAGE_SIZE", 500)),
            max_response_bytes=int(_env_number("YAOCAI_PLATFORM_MAX_RESPONSE_MB", 64) * 2**20),
            request_deadline=_env_number("YAOCAI_PLATFORM_REQUEST_DEADLINE", 300.0),
            pull_deadline=_env_number("YAOCAI_PLATFORM_PULL_DEADLINE", 7200.0),
            redirect_origins=tuple(_origin(o) for o in os.environ.get("YAOCAI_PLATFORM_REDIRECT_ORIGINS", "").split(",")
                                   if o.strip()),
        )


def _origin(url: str) -> str:
    """scheme://host:port, the unit a redirect may stay within (RFC 6454)."""
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


# --- deadlines ---------------------------------------------------------------

def _watched_pool_classes(connections: weakref.WeakSet) -> dict:
    """urllib3 pool classes whose connections register themselves in
    ``connections`` when they connect, so a watchdog can shut their sockets
    down (the only way to interrupt a read that a drip keeps alive)."""

    class WatchedHTTPConnection(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            connections.add(self)

    class WatchedHTTPSConnection(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            connections.add(self)

    class WatchedHTTPPool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTPConnection

    class WatchedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPSConnection

    return {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, connections: weakref.WeakSet) -> None:
        self._pool_classes = _watched_pool_classes(connections)
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._pool_classes
        return manager


class _Watchdog:
    """Shuts down every socket of the client when ``seconds`` have passed,
    unless cancelled first; ``fired`` says whether it did."""

    def __init__(self, connections: weakref.WeakSet, seconds: float) -> None:
        self.fired = False
        self._connections = connections
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        for connection in list(self._connections):
            sock = getattr(connection, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cancel(self) -> None:
        self._timer.cancel()


# --- rate limit --------------------------------------------------------------

class RateLimiter:
    """At most ``rate`` request starts per second: each start waits until
    1/rate seconds after the previous one (no bursts)."""

    def __init__(self, rate_per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate_per_second if rate_per_second and rate_per_second > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


# --- the client ----------------------------------------------------------------

@dataclass
class Page:
    records: list
    total: int | None
    request: str          # path?query, for lineage (source_file) and logs; never the token
    attempts: int
    body_bytes: int
    fields: dict = field(default_factory=dict)  # the envelope's other data fields


class _Bearer(requests.auth.AuthBase):
    """Sets the Authorization header (also stops requests from applying ~/.netrc)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class _TooLarge(Exception):
    pass


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


class PlatformClient:
    def __init__(self, settings: ClientSettings, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self._connections: weakref.WeakSet = weakref.WeakSet()
        adapter = _WatchedAdapter(self._connections)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._origin = _origin(settings.base_url)
        self._pull_started: float | None = None
        host = urlsplit(settings.base_url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            self.session.trust_env = False  # never send loopback traffic to a proxy from the environment
        self._sleep = sleep
        self._limiter = RateLimiter(settings.rate_per_second, sleep=sleep)
        self._token = settings.token_provider()
        register_secret(self._token)
        self.requests_made = 0
        self.retries_made = 0
        self.token_reads = 1

    @classmethod
    def from_environment(cls) -> PlatformClient:
        return cls(ClientSettings.from_environment())

    def backoff_wait(self, retry: int, hint: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        s = self.settings
        wait = min(s.max_backoff, s.backoff * 2 ** (retry - 1)) * (0.5 + random.random() / 2)
        if hint is not None:
            wait = max(wait, min(hint, s.max_backoff))
        return wait

    def pause(self, seconds: float) -> None:
        self._sleep(seconds)

    def get_page(self, path: str, params: dict) -> Page:
        """GET one page; retries transient failures, re-reads the token once
        on 401. Raises PlatformError / PlatformAuthError (redacted)."""
        s = self.settings
        # Readable (not URL-encoded) for lineage and logs; never holds the token.
        query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
        request_text = f"{path}?{query}" if query else path
        url = f"{s.base_url}/{path.lstrip('/')}"
        attempt, retries, token_reread = 0, 0, False
        started = time.monotonic()
        if self._pull_started is None:
            self._pull_started = started
        request_end = started + s.request_deadline
        pull_end = self._pull_started + s.pull_deadline

        def deadline() -> tuple[float, str]:
            """(seconds left, what runs out first)"""
            if request_end <= pull_end:
                return request_end - time.monotonic(), (
                    f"the request deadline ({s.request_deadline:g}s for one GET, retries included; "
                    "YAOCAI_PLATFORM_REQUEST_DEADLINE)")
            return pull_end - time.monotonic(), (
                f"the pull deadline ({s.pull_deadline:g}s for the whole pull; YAOCAI_PLATFORM_PULL_DEADLINE)")

        def overdue(what: str) -> PlatformLimitError:
            return PlatformLimitError(
                f"platform GET {request_text} stopped after {time.monotonic() - started:.1f}s ({attempt} attempt(s)): "
                f"it did not complete within {what}; pages committed before are kept and the next pull "
                "resumes at the watermark")

        while True:
            left, what = deadline()
            if left <= 0:
                raise overdue(what)
            attempt += 1
            self._limiter.wait()
            self.requests_made += 1
            watchdog = _Watchdog(self._connections, deadline()[0])
            try:
                return self._attempt(url, params, request_text, attempt, watchdog)
            except _Unauthorized as exc:
                if token_reread:
                    raise PlatformAuthError(
                        f"the platform rejected the token (HTTP 401: {redact(exc)}) for GET {request_text}, also after "
                        f"reading the token again; set a valid token in {TOKEN_ENV} or the Airflow connection "
                        f"'{CONNECTION_ID}'") from None
                token_reread = True
                log.warning("platform: GET %s was refused (HTTP 401: %s); reading the token again and retrying once",
                            request_text, redact(exc))
                self._token = s.token_provider()
                self.token_reads += 1
                register_secret(self._token)
            except _Retryable as exc:
                if watchdog.fired:
                    raise overdue(what) from None
                retries += 1
                if retries > s.max_retries:
                    raise PlatformError(f"platform GET {request_text} failed after {attempt} attempts: "
                                        f"{redact(exc.reason)}") from None
                wait = self.backoff_wait(retries, exc.wait)
                left, what = deadline()
                if wait >= left:
                    raise overdue(what) from None
                self.retries_made += 1
                log.warning("platform: GET %s: %s; retry %d/%d in %.2fs", request_text, redact(exc.reason),
                            retries, s.max_retries, wait)
                self._sleep(wait)
            except PlatformError:
                if watchdog.fired:
                    raise overdue(what) from None
                raise
            finally:
                watchdog.cancel()

    def _attempt(self, url: str, params: dict, request_text: str, attempt: int, watchdog: _Watchdog) -> Page:
        s = self.settings
        query: dict | None = {k: v for k, v in params.items() if v is not None}
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                same_origin = _origin(url) == self._origin
                response = self.session.get(url, params=query, auth=_Bearer(self._token) if same_origin else None,
                                            timeout=(s.connect_timeout, s.read_timeout),
                                            headers={"Accept": "application/json"}, stream=True,
                                            allow_redirects=False)
                if not response.is_redirect:
                    break
                target = urljoin(url, response.headers.get("Location", ""))
                response.close()
                if _origin(target) != self._origin and _origin(target) not in s.redirect_origins:
                    raise PlatformLimitError(
                        f"platform GET {request_text} was redirected (HTTP {response.status_code}) to "
                        f"{redact(_origin(target))}, another origin than YAOCAI_PLATFORM_URL ({self._origin}); "
                        "not followed and the token not sent there. If the platform has moved, set "
                        "YAOCAI_PLATFORM_URL to its new address, or allow that origin in "
                        "YAOCAI_PLATFORM_REDIRECT_ORIGINS")
                url, query = target, None  # the Location carries its own query
            else:
                raise PlatformLimitError(f"platform GET {request_text}: more than {MAX_REDIRECTS} redirects")
            with response:
                body = self._read_body(response)
        except _TooLarge as exc:
            raise PlatformLimitError(
                f"platform GET {request_text}: the response is larger than the limit of "
                f"{s.max_response_bytes / 2**20:g} MiB ({exc}; YAOCAI_PLATFORM_MAX_RESPONSE_MB); stopped reading. "
                f"A smaller YAOCAI_PLATFORM_PAGE_SIZE may help if the platform sends large pages") from None
        except requests.Timeout as exc:
            raise _Retryable(f"timed out ({type(exc).__name__}, read timeout {s.read_timeout:g}s)") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__}: {redact(exc)[:300]})") from None
        except requests.RequestException as exc:
            raise PlatformError(f"platform GET {request_text}: {type(exc).__name__}: {redact(exc)[:300]}") from None
        status = response.status_code
        snippet = redact(body[:300].decode("utf-8", "replace"))
        if status == 401:
            raise _Unauthorized(_message(body) or "unauthorized")
        if status == 429:
            raise _Retryable("HTTP 429 too many requests", _retry_after(response))
        if status >= 500:
            raise _Retryable(f"HTTP {status} {snippet[:120]}", _retry_after(response))
        if status != 200:
            raise PlatformError(f"platform GET {request_text}: HTTP {status} {snippet}")
        try:
            envelope = json.loads(body)
        except ValueError:
            raise _Retryable(f"response is not complete JSON ({len(body)} bytes)") from None
        if not isinstance(envelope, dict):
            raise PlatformError(f"platform GET {request_text}: unexpected response shape: {snippet}")
        code = envelope.get("code", 0)
        if str(code) in ("401", "40101", "token_expired"):
            raise _Unauthorized(str(envelope.get("msg") or code))
        if str(code) not in ("0", "200", "00000"):
            raise PlatformError(f"platform GET {request_text}: platform error code {code}: "
                                f"{redact(envelope.get('msg') or envelope.get('message') or '')[:300]}")
        data = envelope.get("data")
        records = data.get("list") if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise PlatformError(f"platform GET {request_text}: the response has no record list "
                                f"(expected data.list): {snippet}")
        total = data.get("total") if isinstance(data, dict) else None
        other = {k: v for k, v in data.items() if k != "list"} if isinstance(data, dict) else {}
        return Page(records, int(total) if isinstance(total, (int, float)) else None, request_text, attempt,
                    len(body), other)

    def _read_body(self, response: requests.Response) -> bytes:
        """The body, streamed: stops as soon as it passes the size limit
        (decoded size: a compressed bomb is caught too)."""
        limit = self.settings.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge(f"Content-Length {int(declared):,} bytes")
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=256 * 1024):
            size += len(chunk)
            if size > limit:
                raise _TooLarge(f"more than {limit:,} bytes received")
            chunks.append(chunk)
        return b"".join(chunks)


MAX_REDIRECTS = 5


class _Unauthorized(Exception):
    pass


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("msg") or "")[:200]
    except Exception:  # noqa: BLE001
        return ""


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
