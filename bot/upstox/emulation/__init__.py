"""Internals of the Upstox emulator; the public entry point is `bot.upstox.emulator`."""
