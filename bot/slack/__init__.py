"""Slack plumbing shared by every capability: the `/staticip` router and the one error
boundary for listeners (`commands`), the approvals channel (`channel`), deduplicated
alerts (`alerts`), who is an approver/requester (`audience`), mrkdwn escaping
(`mrkdwn`), response_url answers (`respond`) and the malformed-body guard
(`payload_guard`)."""
