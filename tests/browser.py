"""Open an HTML file in headless Chromium over the DevTools protocol, served
from a loopback HTTP server.

Used by the report's browser test and to regenerate docs/report-screenshot.png
(``python -m tests.browser REPORT.html OUT.png``). One Chromium process:
navigate, wait for load and fonts, save a screenshot of the viewport, and
report what a reader would notice: console errors and uncaught exceptions,
any request leaving the machine (the report must open offline), the fonts
used for Chinese text, and how many distinct colours each chart really
painted (counted on the screenshot pixels, decoded by the browser itself).

Chromium comes from the Debian package ``chromium`` (scripts/test.sh
installs it); :func:`find_chromium` raises when it is missing.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio"]


class ChromiumMissing(RuntimeError):
    pass


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise ChromiumMissing("chromium is not installed: run scripts/test.sh (it installs the Debian package "
                          "'chromium' and 'fonts-noto-cjk'), or apt-get install -y chromium fonts-noto-cjk")


@dataclass
class PageReport:
    screenshot: Path
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)  # label, x, y, width, height, colours
    cjk_fonts: list[str] = field(default_factory=list)
    title: str = ""


class _CDP:
    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self._connection = connect(url, max_size=None, open_timeout=20)
        self.ws = self._connection.__enter__()
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        message_id = next(self.ids)
        message = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        self._connection.__exit__(None, None, None)


COUNT_COLOURS_JS = """
async (png, rects) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + png;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const g = canvas.getContext('2d');
  g.drawImage(img, 0, 0);
  return rects.map(r => {
    const w = Math.max(1, Math.min(Math.round(r.width), img.width - Math.round(r.x)));
    const h = Math.max(1, Math.min(Math.round(r.height), img.height - Math.round(r.y)));
    if (r.y >= img.height || w <= 0 || h <= 0) return -1;
    const d = g.getImageData(Math.round(r.x), Math.round(r.y), w, h).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  });
}
"""

CHART_RECTS_JS = """
[...document.querySelectorAll('svg.chart')].map(e => {
  const r = e.getBoundingClientRect();
  return {label: e.getAttribute('aria-label'), x: r.x + window.scrollX, y: r.y + window.scrollY,
          width: r.width, height: r.height};
})
"""


def render(html: Path, screenshot: Path, width: int = 1400, height: int = 3000, timeout: float = 60) -> PageReport:
    """Load ``html`` (file URL) at width × height and report on it."""
    chromium = find_chromium()
    profile = Path(tempfile.mkdtemp(prefix="yaocai-chromium-"))
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited ({process.returncode}): {process.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port, browser_path = port_file.read_text().splitlines()[:2]
        cdp = _CDP(f"ws://127.0.0.1:{port}{browser_path}")
        try:
            return _inspect(cdp, Path(html).resolve(), Path(screenshot), width, height, timeout)
        finally:
            cdp.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _inspect(cdp: _CDP, html: Path, screenshot: Path, width: int, height: int, timeout: float) -> PageReport:
    target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.send(f"{domain}.enable", session=session)
    cdp.send("Emulation.setDeviceMetricsOverride",
             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
    # Served from a loopback HTTP server, as an officer's browser would get it
    # from the bureau's intranet: Chromium treats every file: URL as its own
    # origin and logs an error when the page touches its own address.
    server, origin = _serve_folder(html.parent)
    try:
        cdp.send("Page.navigate", {"url": f"{origin}/{quote(html.name)}"}, session=session)
        cdp.wait_for("Page.loadEventFired", timeout=timeout)
        return _read_page(cdp, session, origin, screenshot, width, height, timeout)
    finally:
        server.shutdown()
        server.server_close()


def _serve_folder(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    class QuietHandler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
            pass

        def do_GET(self) -> None:
            # Chromium asks every server for /favicon.ico; the report is one
            # self-contained file without one, so answer "nothing" instead of 404
            # (which Chromium logs as a console error).
            if self.path == "/favicon.ico":
                self.send_response(204)
                self.end_headers()
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _read_page(cdp: _CDP, session: str, origin: str, screenshot: Path, width: int, height: int,
               timeout: float) -> PageReport:

    def evaluate(expression: str, await_promise: bool = False) -> object:
        result = cdp.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": await_promise}, session=session, timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    evaluate("document.fonts.ready.then(() => true)", await_promise=True)
    title = evaluate("document.title")
    rects = evaluate(CHART_RECTS_JS)
    shot = cdp.send("Page.captureScreenshot", {"format": "png"}, session=session, timeout=timeout)["data"]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(shot))
    # Count colours of every chart on a full-page capture, so charts below the fold count too.
    page_height = int(evaluate("Math.ceil(document.documentElement.scrollHeight)"))
    full = cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                               "clip": {"x": 0, "y": 0, "width": width, "height": page_height,
                                                        "scale": 1}}, session=session, timeout=timeout)["data"]
    colours = evaluate(f"({COUNT_COLOURS_JS})({json.dumps(full)}, {json.dumps(rects)})", await_promise=True)
    # Which installed font Chromium used for the Chinese headline.
    fonts = cdp.send("DOM.getDocument", session=session)
    node = cdp.send("DOM.querySelector", {"nodeId": fonts["root"]["nodeId"], "selector": "h1"}, session=session)
    platform: dict = {}
    if node.get("nodeId"):
        cdp.send("CSS.enable", session=session)
        platform = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]}, session=session)

    report = PageReport(screenshot=screenshot, title=str(title))
    report.charts = [{**r, "colours": c} for r, c in zip(rects, colours)]
    report.cjk_fonts = [f["familyName"] for f in platform.get("fonts", [])]
    for event in cdp.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            report.console_errors.append("Uncaught " + str(details.get("exception", {}).get("description")
                                                           or details.get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            report.console_errors.append("console." + params["type"] + ": "
                                         + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            report.console_errors.append("log: " + params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith((origin + "/", "data:", "about:")):
                report.external_requests.append(url)
    return report


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.browser REPORT.html OUT.png")
    result = render(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps({"console_errors": result.console_errors, "external_requests": result.external_requests,
                      "fonts": result.cjk_fonts, "charts": [(c["label"], c["colours"]) for c in result.charts]},
                     ensure_ascii=False, indent=2))
