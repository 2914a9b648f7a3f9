"""What the worker counts, for Prometheus: events in, notifications by channel and outcome,
hand-off latency, retries, dead letters, rate-limit waits, consumer lag. One registry per
process, made by the composition root and passed in; no label carries personal data (no
address, no id)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "notifier_events", "Events taken from the topics, by kind", ["kind"], registry=r
        )
        self.notifications = Counter(
            "notifier_notifications",
            "Notification hand-off outcomes (sent, retrying, failed, skipped, expired, …)",
            ["channel", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "notifier_event_to_provider_seconds",
            "From the event's publication (or the message's making) to the provider's acceptance",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.unrecorded = Histogram(
            "notifier_accepted_to_recorded_seconds",
            "From the provider's acceptance to the ledger's 'sent': the window in which a crash"
            " makes the message go out again once the claim's lease is over",
            ["channel"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=r,
        )
        self.dead_letters = Counter(
            "notifier_dead_letters", "Records sent to dead letters", ["source"], registry=r
        )
        self.http = Counter(
            "notifier_http_requests",
            "API requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.rate_limit_wait = Counter(
            "notifier_rate_limit_wait_seconds",
            "Time spent waiting for rate-limit tokens",
            ["channel"],
            registry=r,
        )
        self.sms_budget_refusals = Counter(
            "notifier_sms_budget_refusals",
            "Verification and link SMS refused because the city's hourly SMS budget is spent"
            " (the API's abuse limit `city-sms`): a pumping attack, or a budget too small",
            ["city"],
            registry=r,
        )
        self.over_quota_alerts = Counter(
            "notifier_alerts_outside_quota",
            "Messages of severe and extreme alerts handed over where the city has a monthly"
            " quota: they are never held by it (counted in the month's usage all the same)",
            ["city", "channel"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "notifier_consumer_lag",
            "Records on the partitions this worker holds that it has not read yet",
            ["topic", "partition"],
            registry=r,
        )

        by_lane = ["channel", "lane"]
        self.oldest_queued = Gauge(
            "notifier_oldest_queued_seconds",
            "Age of the oldest queued notification not waiting for a retry (its event's queueing)",
            by_lane,
            registry=r,
        )
        self.stuck = Gauge(
            "notifier_stuck_notifications",
            "Notifications 'sending' past their claim's lease: their sender stopped",
            by_lane,
            registry=r,
        )
        self.oldest_stuck = Gauge(
            "notifier_oldest_stuck_seconds",
            "Age of the oldest claim past its lease (0: none)",
            by_lane,
            registry=r,
        )

    def record_backlog(
        self,
        oldest_queued: dict[tuple[str, str], float],
        stuck: dict[tuple[str, str], int],
        oldest_stuck: dict[tuple[str, str], float],
    ) -> None:
        """The watch's figures (``streams.watch``), per (channel, lane)."""
        for labels, seconds in oldest_queued.items():
            self.oldest_queued.labels(*labels).set(round(seconds, 1))
        for labels, n in stuck.items():
            self.stuck.labels(*labels).set(n)
        for labels, seconds in oldest_stuck.items():
            self.oldest_stuck.labels(*labels).set(round(seconds, 1))

    def record_lag(self, consumer: Any) -> None:
        """The lag of each partition a Faust consumer holds: its highwater (the next offset
        to be written) less the next offset it will read."""
        held = consumer.assignment()
        for tp in held:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # not fetched yet
            read = consumer._read_offset.get(tp)  # the last offset read (Faust keeps it)
            if read is None:
                read = (consumer._committed_offset.get(tp) or 0) - 1
            lag = max(0, int(highwater) - int(read) - 1)
            self.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
        for labels in list(self.consumer_lag._metrics):  # partitions handed to another worker
            if (labels[0], int(labels[1])) not in {(tp.topic, tp.partition) for tp in held}:
                self.consumer_lag.remove(*labels)


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """``histogram.observe`` of each amount (of one labelled child), a bucket's counter moved
    once for all the amounts it takes: the hand-off writes its latencies a chunk at a time,
    where two ``observe`` a message cost 1.3 µs. prometheus_client has no such call: this moves
    the child's own counters, as ``observe`` does (a test compares the two)."""
    if not amounts:
        return
    bounds = getattr(histogram, "_upper_bounds", None)
    if bounds is None or not hasattr(histogram, "_buckets") or not hasattr(histogram, "_sum"):
        for amount in amounts:  # a prometheus_client made otherwise: its own way
            histogram.observe(amount)
        return
    histogram._raise_if_not_observable()
    counts = [0] * len(bounds)
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1
    histogram._sum.inc(sum(amounts))
    for i, n in enumerate(counts):
        if n:
            histogram._buckets[i].inc(n)
