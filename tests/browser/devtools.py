"""Headless Chromium driven over the Chrome DevTools Protocol, for the HTML report's browser test.

One page over one websocket: each command waits for its reply, and the events that arrive
meanwhile are kept, so the test can read every console error and uncaught exception the page
raised. `install-chromium` (beside this file) installs Debian's Chromium when it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

INSTALL = Path(__file__).with_name("install-chromium")
# `await until(find)`: the first truthy value of `find()`, polled while the page renders (5 s).
UNTIL = """window.until = async (find) => {
    for (let tries = 0; tries < 100; tries++) {
        const found = find();
        if (found) return found;
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`never true: ${find}`);
}"""


def chromium() -> tuple[str | None, str]:
    """Chromium's path, installing it first when missing (as root); else None and why not."""
    if shutil.which("chromium") is None:
        if os.geteuid() != 0:
            return None, f"Chromium is not installed and {INSTALL.name} needs root"
        install = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True)
        if install.returncode:
            return None, f"{INSTALL.name} failed: {install.stderr.strip()[-500:]}"
    return shutil.which("chromium"), ""


@contextmanager
def headless_page(binary: str, timeout: float = 30) -> Iterator[Page]:
    """The blank tab of a fresh headless Chromium, closed with its profile on leaving."""
    with tempfile.TemporaryDirectory() as scratch:
        profile, log = Path(scratch, "profile"), Path(scratch, "chromium.log")
        with (
            log.open("w") as stderr,
            subprocess.Popen(
                [
                    *(binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"),
                    *(f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"),
                ],
                stderr=stderr,
            ) as process,
        ):
            try:
                port = listening_port(profile, process, timeout, log)
                with connect(page_socket(port), max_size=None) as socket:
                    yield Page(socket)
            finally:
                process.terminate()  # Chromium then ends (and reaps) its helper processes


def listening_port(profile: Path, process: subprocess.Popen, timeout: float, log: Path) -> str:
    """The DevTools port, which Chromium writes into its profile once it listens."""
    written = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while len(lines := written.read_text().split() if written.exists() else []) < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Chromium did not listen: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return lines[0]


def page_socket(port: str) -> str:
    """The blank tab's websocket address."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as reply:
        tabs = json.load(reply)
    return next(tab["webSocketDebuggerUrl"] for tab in tabs if tab["type"] == "page")


class Page:
    """One tab: protocol commands, JavaScript, and the errors the page has raised so far."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []
        self.sent = 0
        for domain in ("Page", "Runtime", "Log"):  # so their events (and errors) are reported
            self.send(f"{domain}.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one protocol command; keep the events that arrive before its reply."""
        self.sent += 1
        self.socket.send(json.dumps({"id": self.sent, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.sent:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        reply = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(reply["exceptionDetails"]["exception"]["description"])
        return reply["result"].get("value")

    def call(self, function: str, *args: Any) -> Any:
        """The value of a JavaScript function (source text) called with JSON `args`."""
        return self.evaluate(f"({function})(...{json.dumps(args)})")

    def open(self, url: str, ready: str = "true", timeout: float = 30) -> None:
        """Load `url`, wait until the JavaScript expression `ready` holds, then define `until`."""
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"document.readyState == 'complete' && ({ready})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} was not ready after {timeout} s: {ready}")
            time.sleep(0.1)
        self.evaluate(UNTIL)

    def errors(self) -> list[str]:
        """Console errors, failed assertions, uncaught exceptions and browser errors so far."""
        return [text for event in self.events if (text := error_text(event))]


def error_text(event: dict[str, Any]) -> str | None:
    """What went wrong, if this protocol event reports an error."""
    method, params = event["method"], event["params"]
    if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
        return " ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"])
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return details.get("exception", {}).get("description", details["text"])
    if method == "Log.entryAdded" and params["entry"]["level"] == "error":
        return params["entry"]["text"]
    return None
