"""The HTTP API (aiohttp): ``app.create_api(settings, deps)`` builds the application.

- ``app``: the factory, its middlewares (errors as JSON, metrics, path ids, cities) and health.
- the routes, one module per resource: ``cities``, ``citizens``, ``contacts``, ``links`` (what
  citizens follow from their messages), ``manage`` (a citizen's own data), ``announcements``,
  ``service_requests`` (Open311-shaped), ``city_map``, ``webhooks`` (Twilio's).
- what the routes share: ``http`` (JSON bodies and errors), ``keys`` (the application's typed
  state), ``auth`` (department, operator and citizen credentials), ``abuse`` (sending limits),
  ``path_ids``, ``security_headers``, ``webhook_replays``.
- ``openapi``: the OpenAPI 3.1 document of all of it, served at ``/v1/openapi.json``.

What a route does beyond HTTP is in ``notifier.actions``; the pages it serves in ``notifier.web``.
"""
