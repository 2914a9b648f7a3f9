"""The security headers of every answer, set in one place (``on_response_prepare``).

Every answer: ``X-Content-Type-Options: nosniff`` (a JSON error or an export is never run as a
script or a page). Every HTML answer (the portal, the console, ``/manage``, the confirm and
unsubscribe pages, error pages): the pages' Content-Security-Policy (scripts, styles and images
from this origin only, no framing), ``X-Frame-Options: DENY`` for browsers without
``frame-ancestors``, and ``Referrer-Policy: no-referrer`` because tokens travel in the URLs of
the link pages. A page that needs a wider policy (a city's logo on its own origin) sets its own
``Content-Security-Policy``, which is kept.
"""

from __future__ import annotations

from aiohttp import web

# Scripts and styles come only from this origin (no inline script, no inline style attribute);
# images from it too (``{images}``: more image origins, for a city's logo).
CSP = (
    "default-src 'self'; img-src 'self' data:{images}; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
EVERY_ANSWER = {"X-Content-Type-Options": "nosniff"}
HTML_ANSWER = {
    "Content-Security-Policy": CSP.format(images=""),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    wanted = EVERY_ANSWER
    if response.content_type == "text/html":
        wanted = {**EVERY_ANSWER, **HTML_ANSWER}
    for name, value in wanted.items():
        response.headers.setdefault(name, value)
