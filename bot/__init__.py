"""staticip-bot: see and safely change the static IPs registered with Upstox, from Slack."""

__version__ = "0.1.0"
