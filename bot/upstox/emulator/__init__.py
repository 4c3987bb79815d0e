"""The local Upstox emulator: a real HTTP server that behaves as the Upstox docs describe.

`server` runs it (`python -m bot.upstox.emulator`, `staticip-bot emulator`); `app` holds its
routes, `state` the registered IPs, tokens and faults, `rules` Upstox's own rules (week
lock, rate limits, error envelope) and `admin` the test-only `/_emulator` API.
"""

from bot.upstox.emulator.server import EmulatorServer, Fault, listening_socket, main

__all__ = ["EmulatorServer", "Fault", "listening_socket", "main"]
