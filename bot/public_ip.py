"""This host's public IP, as answered by `PUBLIC_IP_URL` (a plain-text body like
`203.0.113.7`, e.g. https://api.ipify.org or https://ifconfig.me/ip).

Used by `/staticip show` ("is this host registered?") and by the drift watcher. The
answer is cached for a short while so a burst of commands makes one request; a failure
is logged and gives None (never an exception), because a missing public IP must not stop
the answer it decorates.

    lookup = PublicIpLookup(url, clock=clock)
    ip = await lookup.current()      # "203.0.113.7", normalised, or None
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from datetime import datetime, timedelta

import httpx

from bot.ips import normalise_ip
from bot.ist import Clock, system_clock

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0
DEFAULT_TTL = timedelta(seconds=60)
_MAX_BODY = 200  # an address is at most 45 characters; anything longer is not one


class PublicIpLookup:
    def __init__(
        self,
        url: str | None,
        *,
        clock: Clock = system_clock,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: timedelta = DEFAULT_TTL,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._clock = clock
        self._ttl = ttl
        self._timeout = timeout
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._cached: tuple[str, datetime] | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def configured(self) -> bool:
        return self.url is not None

    async def current(self) -> str | None:
        """This host's public IP (normalised, e.g. IPv6 compressed), or None if unknown."""
        if self.url is None:
            return None
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one request for a burst of callers
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            found = await self._fetch(self.url)
            if found is not None:
                self._cached = (found, self._clock())
            return found

    def forget(self) -> None:
        """Drop the cached answer (the next `current()` asks again)."""
        self._cached = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _fresh(self) -> str | None:
        if self._cached is None:
            return None
        value, at = self._cached
        age = self._clock() - at
        if age < timedelta(0) or age >= self._ttl:
            return None
        return value

    async def _fetch(self, url: str) -> str | None:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=True,
                headers={"Accept": "text/plain"},
                transport=self._transport,
            )
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            log.warning("public IP lookup failed: %s", type(exc).__name__)
            return None
        if not response.is_success:
            log.warning("public IP lookup failed: HTTP %d", response.status_code)
            return None
        found = parse_ip_text(response.text)
        if found is None:
            log.warning("public IP lookup answered something that is not an IP address")
        return found


def parse_ip_text(body: str) -> str | None:
    """The IP address in a plain-text answer, normalised; None if it is not exactly one."""
    text = body.strip()
    if not text or len(text) > _MAX_BODY:
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return normalise_ip(text)
