"""The one Faust application. It creates the app and nothing else: the agents are registered
by ``streams.agents.register`` from the composition root (``notifier.worker``)."""

from __future__ import annotations

import os
import tempfile

import faust


def create_app(
    app_id: str, broker: str, session_timeout: float, datadir: str | None = None
) -> faust.App:
    """``datadir``: where Faust keeps its (empty: memory store) folder; by default a temporary
    one, so nothing lands in the current directory."""
    return faust.App(
        app_id,
        broker=broker,
        datadir=datadir or os.path.join(tempfile.gettempdir(), f"faust-{app_id}"),
        autodiscover=False,
        store="memory://",
        # The worker serves no Faust web views; ours is the aiohttp API.
        web_enabled=False,
        web_host="127.0.0.1",
        # Tansu holds a JoinGroup for half the session/rebalance timeout: keep them short.
        broker_session_timeout=session_timeout,
        broker_rebalance_timeout=session_timeout,
        broker_heartbeat_interval=min(3.0, session_timeout / 3),
        consumer_auto_offset_reset="earliest",
        topic_partitions=4,
        producer_acks=-1,
    )
