"""The worker's figures (``streams.metrics``)."""

from __future__ import annotations

from streams.metrics import Metrics, observe_many


def _latency_samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    [family] = [m for m in metrics.registry.collect() if m.name.endswith("to_provider_seconds")]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in family.samples
        if not s.name.endswith("_created")  # when the child was made
    }


def test_observing_many_at_once_is_observing_each() -> None:
    # on the bounds, between them, below the first, above the last
    amounts = [0.0, 0.05, 0.07, 0.1, 2.5, 2.6, 59.0, 3600.0, 5000.0, 0.01, 0.3, 0.3]
    one_by_one, at_once = Metrics(), Metrics()
    for amount in amounts:
        one_by_one.latency.labels("sms").observe(amount)
    one_by_one.latency.labels("push")
    observe_many(at_once.latency.labels("sms"), amounts[:5])
    observe_many(at_once.latency.labels("sms"), amounts[5:])
    observe_many(at_once.latency.labels("push"), [])
    samples = _latency_samples(at_once)
    assert samples == _latency_samples(one_by_one)
    count = ("notifier_event_to_provider_seconds_count", (("channel", "sms"),))
    in_first_bucket = (
        "notifier_event_to_provider_seconds_bucket",
        (("channel", "sms"), ("le", "0.05")),
    )
    assert (samples[count], samples[in_first_bucket]) == (12.0, 3.0)


def test_a_histogram_without_the_counters_it_moves_gets_each_amount_observed() -> None:
    class Other:  # as a prometheus_client made otherwise would be
        def __init__(self) -> None:
            self.seen: list[float] = []

        def observe(self, amount: float) -> None:
            self.seen.append(amount)

    other = Other()
    observe_many(other, [0.1, 2.0])  # type: ignore[arg-type]
    assert other.seen == [0.1, 2.0]
