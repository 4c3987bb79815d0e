"""The processes a benchmark runs: the bot, the baseline, the Upstox emulator; RSS sampling."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on (http://\S+)")
SEED_TOKEN = re.compile(r"seed access token: (\S+)")


class ServerProcess:
    """`python -m <module>` with its output collected line by line (and kept for errors)."""

    def __init__(self, module: str, env: Mapping[str, str], cwd: Path, args: list[str]) -> None:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(cwd),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO_ROOT),
            **env,
        }
        self.module = module
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=full_env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.base_url = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def tail(self, n: int = 30) -> str:
        with self._cond:
            return "\n".join(self.lines[-n:])

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    match = pattern.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.module}: no line matching {pattern.pattern!r}:\n{self.tail()}"
                    )
                self._cond.wait(min(remaining, 0.1))

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Wait for `/readyz` 200; return the seconds from process start to that answer."""
        self.base_url = self.wait_for_line(LISTENING, timeout).group(1)
        deadline = self.started_at + timeout
        with httpx.Client(timeout=1.0) as client:
            while True:
                try:
                    if client.get(f"{self.base_url}/readyz").status_code == 200:
                        return time.monotonic() - self.started_at
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.module}: not ready in {timeout}s:\n{self.tail()}")
                time.sleep(0.005)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)


@dataclass
class Emulator:
    process: ServerProcess
    base_url: str
    seed_token: str

    def admin(self, method: str, path: str, json: object = None) -> httpx.Response:
        response = httpx.request(method, f"{self.base_url}/_emulator{path}", json=json)
        response.raise_for_status()
        return response

    def calls(self, route: str) -> int:
        return sum(1 for call in self.admin("GET", "/calls").json() if call["route"] == route)

    def stop(self) -> None:
        self.process.stop()


def start_emulator(cwd: Path, latency: float) -> Emulator:
    process = ServerProcess("bot.upstox.emulator", {}, cwd, ["--port", "0"])
    try:
        base_url = process.wait_for_line(re.compile(r"UPSTOX_BASE_URL=(\S+)"), 30).group(1)
        token = process.wait_for_line(SEED_TOKEN, 5).group(1)
        emulator = Emulator(process, base_url, token)
        # The benchmark measures the bot, not Upstox's per-user rate limit.
        emulator.admin("POST", "/config", {"rate_limits": [[1, 100_000]]})
        emulator.admin("POST", "/faults", {"latency": latency})
    except BaseException:
        process.stop()
        raise
    return emulator


class RssSampler:
    """Samples a process's resident set size in a thread; also reads the kernel's peak."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def current(self) -> int:
        rss: int = self._process.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far."""
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def kernel_peak(self) -> int:
        """VmHWM: the highest RSS the kernel saw, between our samples too (Linux only)."""
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return 0
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) * 1024 if match else 0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.current()
            except psutil.Error:
                return
