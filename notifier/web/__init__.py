"""The web pages: the citizen portal, the department console, the service worker of web push
and the dev outbox page (``pages``), from the plain HTML, CSS and JavaScript of ``static/``."""
