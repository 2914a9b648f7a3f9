"""Bulk import of an existing subscriber list (``notifier import-subscribers FILE``).

- ``rows``: the CSV's columns, read and validated as the API validates.
- ``importer``: each valid row made a contact point and one subscription, keeping consent.
"""
