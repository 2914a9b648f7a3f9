"""The embedded default and its fakes: what ``notifier up`` and the tests run on this machine
in place of real infrastructure and paid providers.

- ``embedded``: Tansu (Kafka protocol) and redis-server on loopback, as child processes.
- ``outbox``: the local SMTP outbox and the ``/dev/`` routes that show it and the local SMS.
- ``twilio_fake``: a server speaking Twilio's Messages API, checking what Twilio checks.
- ``push_service_fake``: a web push service that verifies VAPID and decrypts the payload.

The production worker and API never import the fakes (``tests/unit/test_packaging.py`` checks it).
"""
