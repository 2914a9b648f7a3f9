"""CAP 1.2 in: OASIS Common Alerting Protocol alerts from a city's or a weather service's feed
become our announcements (``POST /v1/cities/{city}/cap``, ``notifier cap-import``).

- ``parser``: a safe parser of ``<alert>`` documents (no DTD, no entity) into plain dataclasses.
- ``mapping``: a CAP alert as the JSON body of our announcements API.
- ``importer``: each alert of a document published, updated or cancelled.
"""
