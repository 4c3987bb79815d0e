"""Test helpers shared by every suite: fake Slack, signed requests, bot runners."""
