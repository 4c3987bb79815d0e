"""Business rules with no Slack, HTTP or database in them."""
