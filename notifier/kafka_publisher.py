"""The producer the API publishes through (aiokafka), handed to it by the composition root.

It only carries records to Kafka; what publishing an announcement means (outbox first, then this
producer) is ``notifier.actions.publishing``."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError


class KafkaPublisher:
    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        """``timeout``: how long a publish may wait for the broker before it fails (the API
        then keeps the event in its outbox and answers; the sweep hands it over later)."""
        # No idempotent producer: Tansu does not implement InitProducerId. Duplicates from a
        # retried send are harmless downstream (notification ids and the ledger claim).
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=2,
            request_timeout_ms=int(timeout * 1000),
        )
        self.timeout = timeout

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def ready(self) -> bool:
        """Can the broker be reached now (its metadata fetched within two seconds)?"""
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 2.0)
            return True
        except (TimeoutError, KafkaError, OSError):
            return False

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Return once the broker has the record (acks=all); ``TimeoutError`` past the timeout."""
        await asyncio.wait_for(
            self._producer.send_and_wait(topic, value=value, key=key or None), self.timeout
        )
