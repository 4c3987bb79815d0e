"""The processes a benchmark runs (the bot, the baseline, the Upstox emulator, all as
`tests.support.bot_runner.ServerProcess`) and RSS sampling."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from tests.support.bot_runner import ServerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_TOKEN = re.compile(r"seed access token: (\S+)")


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
