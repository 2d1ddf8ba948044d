"""A local HTTP server that answers like a provincial procurement platform.

Loopback only (127.0.0.1), on a free port chosen by the kernel, in a daemon
thread of the calling process (``http.server.ThreadingHTTPServer``). API:

``GET /api/v1/{orders|deliveries|payments|catalogue}?starttime=YYYY-MM-DD HH:MM:SS&pageNo=1&pageSize=500``
with ``Authorization: Bearer <token>``; records with ``updatetime ≥ starttime``
as the platform shows them at the emulator's clock (``now``), sorted by
update time then id, in the envelope
``{"code": 0, "msg": "success", "data": {"total", "pageNo", "pageSize", "pages", "list"}}``.

Faults are injected by rules (``Fault``) matched against the n-th request of
an endpoint: HTTP 500, a response slower than the client's timeout, the
previous page served again, a renamed or missing field, an expired token
(401), HTTP 429. ``requests`` records every request (time, endpoint, query,
status) for tests; the token is never recorded or printed.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from platform_emulator.dataset import TS, PlatformDataset

API_PREFIX = "/api/v1"
ENDPOINTS = ("orders", "deliveries", "payments", "catalogue")
MAX_PAGE_SIZE = 5000


@dataclass
class Fault:
    """Fire on requests ``at``, ``at``+1, … of ``endpoint`` (None = any), ``times`` times.

    kind: ``error500`` | ``slow`` (sleep ``delay`` s first) | ``repeat_page``
    (answer with the previous response of the endpoint) | ``rename_field``
    (``field`` → ``new_name`` in ``records`` records after the first ``skip``;
    all when ``records`` is 0) |
    ``drop_field`` | ``expired_token`` (401) | ``rate_limited`` (429 with
    Retry-After) | ``unsorted`` (the page's records in reverse order).
    """

    kind: str
    endpoint: str | None = None
    at: int = 1
    times: int = 1
    delay: float = 0.0
    field: str | None = None
    new_name: str | None = None
    records: int = 0
    skip: int = 0
    fired: int = 0

    def matches(self, endpoint: str, request_no: int) -> bool:
        return (self.endpoint in (None, endpoint)) and request_no >= self.at and self.fired < self.times


@dataclass
class RequestRecord:
    at: float                 # time.monotonic() when the request arrived
    endpoint: str
    query: dict
    status: int
    fault: str | None = None
    records: int = 0


@dataclass
class _State:
    counters: dict[str, int] = field(default_factory=dict)
    last_body: dict[str, bytes] = field(default_factory=dict)
    served: dict[str, dict[str, dict]] = field(default_factory=dict)  # endpoint -> key -> last record served


class PlatformEmulator:
    def __init__(self, dataset: PlatformDataset, token: str, faults: list[Fault] | None = None,
                 now: dt.datetime | str | None = None) -> None:
        self.dataset = dataset
        self._tokens = [token]
        self.faults: list[Fault] = list(faults or [])
        self._now = self._format_now(now) if now is not None else dt.datetime.combine(
            dataset.as_of, dt.time(23, 59, 59)).strftime(TS)
        self.requests: list[RequestRecord] = []
        self._state = _State()
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[list, list[str]]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ------------------------------------------------------------

    @staticmethod
    def _format_now(now: dt.datetime | str) -> str:
        return now.strftime(TS) if isinstance(now, dt.datetime) else str(now)

    @property
    def now(self) -> str:
        return self._now

    def set_now(self, now: dt.datetime | str) -> None:
        with self._lock:
            self._now = self._format_now(now)

    def set_token(self, token: str) -> None:
        """The platform now accepts only this token (e.g. after a rotation)."""
        with self._lock:
            self._tokens = [token]

    def add_faults(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def start(self, port: int = 0) -> PlatformEmulator:
        """Serve on 127.0.0.1:``port`` (0 = a free port) in a daemon thread."""
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="platform-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> PlatformEmulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX}"

    # --- what it serves ------------------------------------------------------

    def current(self, endpoint: str) -> dict[str, dict]:
        """key -> record as the platform shows it now (what a complete pull must hold)."""
        return {v.key: v.record for v in self.dataset.view(endpoint, self._now)}

    def served(self, endpoint: str) -> dict[str, dict]:
        """key -> the last version of each record actually sent to a client."""
        with self._lock:
            return dict(self._state.served.get(endpoint, {}))

    def _window(self, endpoint: str, now: str) -> tuple[list, list[str]]:
        cache_key = (endpoint, now)
        if cache_key not in self._cache:
            view = self.dataset.view(endpoint, now)
            self._cache[cache_key] = (view, [v.updated for v in view])
        return self._cache[cache_key]

    def respond(self, path: str, query: dict, authorization: str | None) -> tuple[int, dict, bytes, float]:
        """(status, headers, body, delay seconds) for one request."""
        import bisect

        endpoint = path[len(API_PREFIX):].strip("/") if path.startswith(API_PREFIX) else ""
        if endpoint not in ENDPOINTS:
            return self._finish(endpoint or path, query, 404, {"code": 404, "msg": "no such interface"})
        with self._lock:
            request_no = self._state.counters.get(endpoint, 0) + 1
            self._state.counters[endpoint] = request_no
            fault = next((f for f in self.faults if f.matches(endpoint, request_no)), None)
            if fault is not None:
                fault.fired += 1
            tokens = list(self._tokens)
            now = self._now
        kind = fault.kind if fault else None
        delay = fault.delay if kind == "slow" else 0.0
        if kind == "expired_token":
            return self._finish(endpoint, query, 401, {"code": 401, "msg": "token已过期 (token expired)"}, kind)
        presented = (authorization or "")[7:] if (authorization or "").lower().startswith("bearer ") else ""
        if not presented or not any(hmac.compare_digest(presented, t) for t in tokens):
            return self._finish(endpoint, query, 401, {"code": 401, "msg": "token无效 (invalid token)"}, kind)
        if kind == "error500":
            return self._finish(endpoint, query, 500, {"code": 500, "msg": "系统繁忙 (internal error)"}, kind)
        if kind == "rate_limited":
            return self._finish(endpoint, query, 429, {"code": 429, "msg": "请求过于频繁"}, kind, {"Retry-After": "0.2"})
        if kind == "repeat_page":
            with self._lock:
                previous = self._state.last_body.get(endpoint)
            if previous is not None:
                self._log(endpoint, query, 200, kind, -1)
                return 200, {}, previous, delay
        try:
            page_no = int(query.get("pageNo", "1"))
            page_size = int(query.get("pageSize", "500"))
            starttime = query.get("starttime")
            if starttime:
                starttime = dt.datetime.strptime(starttime.strip(), TS).strftime(TS)
        except ValueError:
            return self._finish(endpoint, query, 400, {"code": 400, "msg": "参数错误 (bad parameters)"}, kind)
        if page_no < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            return self._finish(endpoint, query, 400, {"code": 400, "msg": "参数错误 (bad parameters)"}, kind)
        view, stamps = self._window(endpoint, now)
        start = bisect.bisect_left(stamps, starttime) if starttime else 0
        window = view[start:]
        chunk = window[(page_no - 1) * page_size: page_no * page_size]
        records = [dict(v.record) for v in chunk]
        if kind == "unsorted":
            records.reverse()  # a platform that does not sort by update time
        if kind in ("rename_field", "drop_field") and fault is not None:
            end = fault.skip + fault.records if fault.records else len(records)
            for record in records[fault.skip:end]:
                if fault.field in record:
                    value = record.pop(fault.field)
                    if kind == "rename_field":
                        record[fault.new_name or f"{fault.field}New"] = value
        with self._lock:
            served = self._state.served.setdefault(endpoint, {})
            for v in chunk:
                served[v.key] = v.record
        data = {"total": len(window), "pageNo": page_no, "pageSize": page_size,
                "pages": (len(window) + page_size - 1) // page_size, "list": records}
        body = json.dumps({"code": 0, "msg": "success", "data": data}, ensure_ascii=False).encode("utf-8")
        with self._lock:
            self._state.last_body[endpoint] = body
        self._log(endpoint, query, 200, kind, len(records))
        return 200, {}, body, delay

    def _finish(self, endpoint: str, query: dict, status: int, payload: dict, kind: str | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes, float]:
        self._log(endpoint, query, status, kind, 0)
        return status, headers or {}, json.dumps(payload, ensure_ascii=False).encode("utf-8"), 0.0

    def _log(self, endpoint: str, query: dict, status: int, kind: str | None, records: int) -> None:
        with self._lock:
            self.requests.append(RequestRecord(time.monotonic(), endpoint, dict(query), status, kind, records))


class _Handler(BaseHTTPRequestHandler):
    emulator: PlatformEmulator
    protocol_version = "HTTP/1.1"
    server_version = "YaocaiPlatformEmulator/1.0"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet: tests read .requests instead
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            status, headers, body, delay = self.emulator.respond(parts.path, query, self.headers.get("Authorization"))
        except Exception as exc:  # noqa: BLE001 - a bug in the emulator answers 500, as a platform would
            status, headers, body, delay = 500, {}, json.dumps({"code": 500, "msg": str(exc)}).encode(), 0.0
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (slow-response fault)
