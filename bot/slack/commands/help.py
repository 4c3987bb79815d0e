"""`/staticip help` and unknown subcommands: the usage text."""

from __future__ import annotations

from bot.config import Settings


def usage_text(settings: Settings) -> str:
    channel = f"<#{settings.slack_approval_channel}>"
    return "\n".join(
        [
            "*/staticip* — see and safely change the static IPs registered with Upstox",
            "• `/staticip` or `/staticip show` — registered IPs, when each last changed, "
            "when the next change is allowed",
            "• `/staticip set <primary> [<secondary>] <reason…>` — request a change "
            f"(`/staticip set` alone opens a form); an approver decides in {channel}",
            "• `/staticip cancel <id>` — cancel a pending request",
            "• `/staticip status` — Upstox session, pending requests, approvers",
            "• `/staticip history [page]` — the audit trail, newest first",
            "• `/staticip login` — log in to Upstox again "
            "(`/staticip login phone` to approve on your phone)",
            "• `/staticip help` — this message",
            "Upstox allows *one change per calendar week*, and every change "
            "*logs out every Upstox session* until someone logs in again.",
        ]
    )


def unknown_subcommand_text(settings: Settings, subcommand: str) -> str:
    shown = subcommand[:40].replace("`", "'")
    return f"Unknown subcommand `{shown}`.\n\n{usage_text(settings)}"
