"""Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol: open a
page at a given viewport, collect console errors and uncaught exceptions, measure the
layout, take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# What the page looks like to the test: measured in the page itself.
_MEASURE = """JSON.stringify((() => {
  const body = document.body;
  const rects = [...body.querySelectorAll('h1, p')].map(e => e.getBoundingClientRect());
  const style = getComputedStyle(body.querySelector('p') || body);
  return {
    title: document.title,
    text: body.innerText,
    viewportWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    leftmost: Math.min(...rects.map(r => r.left)),
    rightmost: Math.max(...rects.map(r => r.right)),
    fontSizePx: parseFloat(style.fontSize),
    hasViewportMeta: !!document.querySelector('meta[name=viewport]'),
  };
})())"""


@dataclass
class PageReport:
    status: int | None
    layout: dict[str, Any]
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None


class Chromium:
    def __init__(self, profile_dir: Path) -> None:
        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed")
        self._profile = profile_dir
        self._proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile_dir}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.port = self._wait_port()

    def _wait_port(self, timeout: float = 30.0) -> int:
        active = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if active.exists():
                first = active.read_text().splitlines()[:1]
                if first and first[0].isdigit():
                    return int(first[0])
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)

    def open(self, url: str, *, width: int, height: int, screenshot: Path | None) -> PageReport:
        return asyncio.run(self._open(url, width, height, screenshot))

    async def _open(self, url: str, width: int, height: int, screenshot: Path | None) -> PageReport:
        base = f"http://127.0.0.1:{self.port}"
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{base}/json/new?about:blank") as created:
                target = await created.json()
            try:
                async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    return await _drive(ws, url, width, height, screenshot)
            finally:
                async with http.get(f"{base}/json/close/{target['id']}"):
                    pass


async def _drive(
    ws: aiohttp.ClientWebSocketResponse,
    url: str,
    width: int,
    height: int,
    screenshot: Path | None,
) -> PageReport:
    ids = itertools.count(1)
    pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
    events: list[dict[str, Any]] = []
    loaded = asyncio.Event()

    async def reader() -> None:
        async for message in ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in pending:
                pending.pop(data["id"]).set_result(data)
            else:
                events.append(data)
                if data.get("method") == "Page.loadEventFired":
                    loaded.set()

    async def call(method: str, **params: Any) -> dict[str, Any]:
        number = next(ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        pending[number] = future
        await ws.send_json({"id": number, "method": method, "params": params})
        answer = await asyncio.wait_for(future, 15)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    task = asyncio.create_task(reader())
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            await call(f"{domain}.enable")
        await call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2,
            mobile=True,
        )
        await call("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), 15)
        measured = await call("Runtime.evaluate", expression=_MEASURE, returnByValue=True)
        layout = json.loads(measured["result"]["value"])
        if screenshot is not None:
            shot = await call("Page.captureScreenshot", format="png")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    status = next(
        (
            e["params"]["response"]["status"]
            for e in events
            if e.get("method") == "Network.responseReceived"
            and e["params"].get("type") == "Document"
        ),
        None,
    )
    document_url = next(
        (
            e["params"]["response"]["url"]
            for e in events
            if e.get("method") == "Network.responseReceived"
            and e["params"].get("type") == "Document"
        ),
        None,
    )
    return PageReport(status, layout, _console_errors(events, document_url), screenshot)


def _console_errors(events: list[dict[str, Any]], document_url: str | None) -> list[str]:
    """Script errors, console.error calls and failed loads, except the one line Chromium
    logs for the page's own status when it is deliberately an error (a refusal is a 4xx)."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value")) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            if entry.get("source") == "network" and entry.get("url") == document_url:
                continue
            errors.append(f"{entry.get('text')} ({entry.get('url')})")
    return errors
