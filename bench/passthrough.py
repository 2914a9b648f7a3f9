"""The baseline of ``bench/e2e.py``: a Faust worker that copies each record of one topic to
another, awaiting the broker's acknowledgement of each copy as ``notifier worker`` does.

    python bench/passthrough.py --kafka kafka://127.0.0.1:9092 --app-id X --source A --sink B

It is built from the same ``streams.app.create_app`` as the real worker, so the figure it gives
is the cost of Faust and Kafka alone: whatever the real path adds is the project's own work.
"""

from __future__ import annotations

import argparse
from typing import Any

import faust

from streams.app import create_app


def build_app(
    kafka_url: str, app_id: str, source: str, sink: str, session_timeout: float
) -> faust.App:
    app = create_app(app_id, kafka_url, session_timeout)
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    src, dst = app.topic(source, **raw), app.topic(sink, **raw)

    async def passthrough(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            fut = await dst.send(key=event.key, value=event.value)
            await fut  # the broker has the copy before the source record is acknowledged

    app.agent(src, name="bench.passthrough")(passthrough)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kafka", required=True, help="kafka://host:port")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--session-timeout", type=float, default=6.0)
    args = parser.parse_args()
    app = build_app(args.kafka, args.app_id, args.source, args.sink, args.session_timeout)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
