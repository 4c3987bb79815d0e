"""A token per (account, app) on both backends: the bot's own app keeps its `tokens` row,
every other app its own `app_tokens` row; an old database gains the `app` columns of the
login states and token requests, its rows becoming the bot's own app's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Column, DateTime, MetaData, String, Table, text

from bot.store import Database, open_database
from bot.store.models import TokenSource, TokenState
from tests.support.databases import SECRET, FakeClock


async def test_each_app_has_its_own_token_row(db: Database, clock: FakeClock) -> None:
    expires = clock.now + timedelta(hours=20)
    await db.tokens.save("acct", "own-token", obtained_via=TokenSource.SEED, expires_at=expires)
    await db.tokens.save(
        "acct", "algo-token", obtained_via=TokenSource.OAUTH, expires_at=expires, app="algo"
    )
    await db.tokens.save(
        "other", "other-algo", obtained_via=TokenSource.OAUTH, expires_at=expires, app="algo"
    )
    own, algo = await db.tokens.get("acct"), await db.tokens.get("acct", "algo")
    assert own is not None and algo is not None
    assert db.tokens.decrypt(own) == "own-token" and db.tokens.decrypt(algo) == "algo-token"
    assert b"algo-token" not in algo.ciphertext
    assert await db.tokens.get("acct", "hedge") is None

    # Replacing one app's token (the upsert on (account, app)) leaves the others alone.
    clock.advance(timedelta(seconds=1))
    await db.tokens.save(
        "acct", "algo-2", obtained_via=TokenSource.NOTIFIER, expires_at=expires, app="algo"
    )
    algo = await db.tokens.get("acct", "algo")
    assert algo is not None and db.tokens.decrypt(algo) == "algo-2"
    other = await db.tokens.get("other", "algo")
    assert other is not None and db.tokens.decrypt(other) == "other-algo"

    # Invalidating one app's token flips only that one, once.
    assert await db.tokens.invalidate("acct", "ip changed", app="algo")
    assert not await db.tokens.invalidate("acct", "ip changed", app="algo")
    algo, own = await db.tokens.get("acct", "algo"), await db.tokens.get("acct")
    assert algo is not None and algo.state is TokenState.INVALIDATED
    assert own is not None and own.state is TokenState.VALID


async def test_old_login_states_and_requests_gain_the_app_column(
    db_url: str, clock: FakeClock
) -> None:
    old = MetaData()
    Table(
        "oauth_states",
        old,
        Column("nonce", String(128), primary_key=True),
        Column("account", String(64), nullable=False),
        Column("slack_user_id", String(64), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("consumed_at", DateTime(timezone=True)),
    )
    Table(
        "token_requests",
        old,
        Column("id", String(32), primary_key=True),
        Column("account", String(64), nullable=False),
        Column("requested_by", String(64), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("completed_at", DateTime(timezone=True)),
    )
    db0 = await open_database(db_url, clock=clock, create_schema=False)
    later = clock.now + timedelta(hours=1)
    async with db0.engine.begin() as conn:
        await conn.run_sync(old.create_all)
        await conn.execute(
            text(
                "INSERT INTO oauth_states (nonce, account, slack_user_id, created_at, "
                "expires_at) VALUES ('n-old', 'acct', 'U1', :t, :e)"
            ),
            {"t": clock.now, "e": later},
        )
        await conn.execute(
            text(
                "INSERT INTO token_requests (id, account, requested_by, created_at, "
                "expires_at) VALUES ('t-old', 'acct', 'U1', :t, :e)"
            ),
            {"t": clock.now, "e": later},
        )
    await db0.close()

    db = await open_database(db_url, clock=clock, secret_key=SECRET)
    try:
        assert await db.schema_problems() == []
        state = await db.oauth_states.consume("n-old", now=clock.now)
        assert state is not None and state.app == "default"
        [request] = await db.token_requests.outstanding("acct", now=clock.now)
        assert request.id == "t-old" and request.app == "default"
        assert await db.token_requests.outstanding("acct", now=clock.now, app="algo") == []
        await db.token_requests.create("acct", "U2", expires_at=later, now=clock.now, app="algo")
        closed = await db.token_requests.complete_outstanding("acct", now=clock.now, app="algo")
        assert [r.requested_by for r in closed] == ["U2"]
        assert len(await db.token_requests.outstanding("acct", now=clock.now)) == 1
    finally:
        await db.close()
