"""The consumer lag figure (``Metrics.record_lag``), from what a Faust consumer knows of the
partitions it holds; the stand-in below has the four members of Faust's consumer it reads."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import generate_latest

from streams.metrics import Metrics


class TP(NamedTuple):
    topic: str
    partition: int


class FaustConsumer:
    def __init__(self) -> None:
        self.held = {TP("deliveries.email", 0): 120, TP("deliveries.email", 1): 40}
        self._read_offset = {TP("deliveries.email", 0): 99}  # read up to 99: 20 left
        self._committed_offset = {TP("deliveries.email", 1): 40}  # nothing read since: 0 left

    def assignment(self) -> set[TP]:
        return set(self.held)

    def highwater(self, tp: TP) -> int:
        return self.held[tp]


def test_lag_per_partition_and_partitions_given_away_are_dropped() -> None:
    metrics, consumer = Metrics(), FaustConsumer()
    metrics.record_lag(consumer)
    text = generate_latest(metrics.registry).decode()
    assert 'notifier_consumer_lag{partition="0",topic="deliveries.email"} 20.0' in text
    assert 'notifier_consumer_lag{partition="1",topic="deliveries.email"} 0.0' in text
    del consumer.held[TP("deliveries.email", 1)]  # a rebalance gave it to another worker
    metrics.record_lag(consumer)
    assert 'partition="1"' not in generate_latest(metrics.registry).decode()
