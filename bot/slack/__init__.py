"""Slack side: the Bolt app, listeners split by kind, and Block Kit builders. No rules here."""
