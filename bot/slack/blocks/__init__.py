"""Block Kit builders: pure functions from domain data to Slack message/view dicts."""
