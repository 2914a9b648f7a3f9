"""The OpenAPI 3.1 document of the HTTP API: ``document`` (its paths, served at
``/v1/openapi.json`` with a page at ``/v1/docs``), ``schemas`` (its components) and ``cities``
(the schemas of the cities routes)."""
