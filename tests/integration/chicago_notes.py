"""The status changes the tests replay, from the ``notes`` timelines of the 50 real Chicago
requests in ``tests/data/open311`` (Open311 with ``extensions=true``).

Test data preparation only: the service takes no notes timelines (a back office sends each
change through the API or writes ``RequestStatusChanged/1`` itself), so this lives with the tests.

Each note type becomes a status:

==================  =============  ==========================================================
note type           status         why
==================  =============  ==========================================================
submitted           submitted      received from the citizen (app, web), not yet registered
opened              open           registered by 311 (Open311's "open")
activity            in_progress    someone did something; its ``description`` is the note
follow_on_created   referred       work handed to another service or agency (a follow-on
                                   request was created for it); the description says which
follow_on_closed    in_progress    that service is done; the request is back with its owner
closed              closed         done; ``duplicate`` instead when the request's
                                   ``status_notes`` say "Duplicate" (the last close only)
==================  =============  ==========================================================

Notes recorded at the same instant are one change (the status of the last, their descriptions
joined with " / "): a change is known by its ``updated_datetime``, and two changes at one
instant could not be ordered. Notes are taken in time order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from streams.request_records import REQUEST_FIELDS, StatusChange
from subscriptions.errors import InvalidInput

NOTE_STATUS = {
    "submitted": "submitted",
    "opened": "open",
    "activity": "in_progress",
    "follow_on_created": "referred",
    "follow_on_closed": "in_progress",
    "closed": "closed",
}


def changes_from_notes(
    request: dict[str, Any], *, city: str, department: str
) -> list[StatusChange]:
    """One ``StatusChange`` per instant of the request's notes, oldest first."""
    notes = request.get("notes")
    if not isinstance(notes, list) or not notes:
        raise InvalidInput("notes", "required, a non-empty list")
    timed = []
    for i, note in enumerate(notes):
        if not isinstance(note, dict) or note.get("type") not in NOTE_STATUS:
            raise InvalidInput(f"notes[{i}].type", f"must be one of {', '.join(NOTE_STATUS)}")
        try:
            at = datetime.fromisoformat(note["datetime"]).timestamp()
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(f"notes[{i}].datetime", "an ISO 8601 date-time") from None
        timed.append((at, i, note))
    timed.sort(key=lambda t: (t[0], t[1]))
    groups: list[list[dict[str, Any]]] = []
    last_at = None
    for at, _, note in timed:
        if at != last_at:
            groups.append([])
            last_at = at
        groups[-1].append(note)
    fields = {k: request[k] for k in REQUEST_FIELDS if request.get(k) not in (None, "")}
    changes = []
    for n, group in enumerate(groups):
        status = NOTE_STATUS[group[-1]["type"]]
        final = n == len(groups) - 1
        if status == "closed" and final and request.get("status_notes") == "Duplicate":
            status = "duplicate"
        descriptions = [g["description"].strip() for g in group if g.get("description")]
        body = {
            **fields,
            "service_request_id": request.get("service_request_id"),
            "status": status,
            "status_notes": " / ".join(dict.fromkeys(descriptions)),
            "updated_datetime": group[-1]["datetime"],
        }
        changes.append(StatusChange.from_open311(body, city=city, department=department))
    return changes
