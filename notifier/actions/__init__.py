"""What a request does, whichever door it came through (the HTTP API, a CAP feed, a bulk import,
the command line): the operations behind the routes, kept apart from HTTP.

- ``publishing``: publish, update and cancel announcements (outbox first, then Kafka).
- ``preview``: what a draft announcement would reach and how its messages would read.
- ``confirmations``: the double opt-in request and the magic link to one contact point.
- ``contact_adding``: giving an address, answered the same whether it is new or someone's.
- ``request_filing``: filing a service request for a citizen, who then follows it.
"""
