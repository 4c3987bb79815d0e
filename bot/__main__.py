"""Entry point: `python -m bot` / `staticip-bot` serves the bot; `staticip-bot check` checks
the whole set-up; `staticip-bot emulator` runs the local Upstox emulator."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.config import SettingsError

# What each command needs is imported inside it: `emulator` and `check` never load the
# server's stack, and `serve` reads its settings before the heavy part (bot.web).

log = logging.getLogger("bot")

# What one process serves at once (connections and requests; beyond it uvicorn answers
# 503), so that a flood cannot hold more than about this many bodies of at most 1 MiB
# (bot.edge) in memory. Idle keep-alive connections are closed after a few seconds.
# Header-read timeouts and per-client rate limits are the reverse proxy's job (README).
LIMIT_CONCURRENCY = 200
TIMEOUT_KEEP_ALIVE = 5
MAX_HEADER_BYTES = 16 * 1024  # h11 only: an incomplete request head larger than this
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's <malloc.h>


def _bind(host: str, port: int) -> socket.socket:
    """Bind ourselves so that port 0 works and the real port can be announced."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _refuse(error: SettingsError) -> int:
    for problem in error.problems:
        print(f"configuration error: {problem}", file=sys.stderr)
    return 2


def _check_slack_token(bot: Bot) -> int:
    """Fail fast on a token Slack refuses (exit 2, one line); start anyway if Slack cannot be
    reached (the Upstox side must keep working; `Bot.start` retries in the background)."""
    from bot.slack.identity import SlackTokenRejected, SlackUnreachable

    try:
        asyncio.run(bot.identity.verify())
    except SlackTokenRejected as error:
        print(
            f"SLACK_BOT_TOKEN: Slack refused the token ({error.error}): copy the Bot User "
            "OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
            file=sys.stderr,
        )
        return 2
    except SlackUnreachable as error:
        log.warning("Slack is unreachable at start-up (%s): starting anyway", error)
    return 0


def _limit_malloc_arenas() -> None:
    """At most MALLOC_ARENAS glibc malloc arenas, unless MALLOC_ARENA_MAX says otherwise.

    glibc gives each thread that allocates an arena of its own (up to eight per core), and
    each keeps the memory freed in it: the aiosqlite connection threads and the resolver's
    thread pool left about 3 MB more resident after a burst of commands. Under the GIL two
    arenas cost no throughput. Elsewhere (not Linux, not glibc) this does nothing."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def _skip_httpx_cli() -> None:
    """Keep httpx from importing its command-line client.

    `import httpx` also imports `httpx._main` (click, rich, pygments: about 6 MB and 50 ms)
    whenever those happen to be installed, as in a development venv (rich comes with
    import-linter); the Docker image lacks them. The server never runs that CLI. A None
    entry in sys.modules makes the import fail at once, and httpx then defines a stub."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def serve() -> int:
    # Start-up makes some 200,000 objects that live as long as the process: looking for
    # garbage among them while they are being made cost ~0.1 s of the start-up (medians
    # of eight interleaved starts, docs/performance.md). Collected once, below.
    gc.disable()
    try:
        return _serve()
    finally:
        gc.enable()


def _serve() -> int:
    from bot.config import SettingsError, load_settings
    from bot.log import configure_logging

    try:
        settings = load_settings()
    except SettingsError as error:
        return _refuse(error)
    configure_logging(settings.log_level, settings.secret_values(), fmt=settings.log_format)

    _limit_malloc_arenas()  # before any thread starts
    _skip_httpx_cli()
    from bot.web import create_app  # imported late: start-up errors above stay cheap

    try:
        app = create_app(settings)  # builds every service (and reads the key file)
    except SettingsError as error:
        return _refuse(error)
    code = _check_slack_token(app.state.bot)
    if code:
        return code
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as error:
        print(f"cannot listen on {settings.host}:{settings.port}: {error}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    log.info("listening on http://%s:%s", host, port)
    import uvicorn

    config = uvicorn.Config(
        app,
        log_config=None,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
        limit_concurrency=LIMIT_CONCURRENCY,
        timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    server = uvicorn.Server(config)
    # Everything built so far (modules, settings, services) lives as long as the process:
    # out of the collector's sight, a full collection no longer walks it (one cost ~70 ms
    # in the middle of a burst of commands; see docs/performance.md).
    gc.collect()
    gc.freeze()
    gc.enable()
    server.run(sockets=[sock])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="staticip-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the bot (the default)")
    sub.add_parser("emulator", help="run the local Upstox emulator", add_help=False)
    sub.add_parser("check", help="check the whole set-up, one line per check (exit 0: all pass)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "emulator":
        from bot.upstox.emulator import main as emulator_main

        return emulator_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "check":
        from bot.doctor import main as doctor_main

        return doctor_main()
    return serve()


if __name__ == "__main__":
    sys.exit(main())
