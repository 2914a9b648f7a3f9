"""What an update would do before it is sent: what it changes, and how many citizens each
choice of ``retell`` messages again (``streams.delivery.retell``); nothing is stored or sent.

Counts are rounded up as the preview's are (``notifier.actions.preview``), and the new reach is
counted on the coarse target, so that no key locates one subscriber by updating a shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from notifier.actions.preview import Previewing, coarse, rounded
from streams.announcements import Announcement, changes
from streams.delivery.retell import Earlier, reads_a_change
from streams.state.event_store import EventStore
from streams.state.ledger import Ledger


class Retelling(Previewing, Protocol):
    events: EventStore
    ledger: Ledger


async def preview(deps: Retelling, a: Announcement) -> dict[str, Any]:
    """``a``: the next version, as ``Announcement.updated`` makes it."""
    stored = await deps.events.get(a.city, a.id)
    before = Announcement.from_wire(stored["record"].encode())
    a = dataclasses.replace(a, changed=changes(before, a))
    earlier = await Earlier.read(deps.ledger, a.city, a.id)
    audience = await deps.matcher.match(
        a.city,
        coarse(a.target.resolve(deps.catalogues[a.city])),
        a.category,
        a.severity,
        a.department,
    )
    told = sorted(earlier.told)
    readers = await deps.store.citizens_and_contacts(a.city, told)
    changed = sum(
        1 for cid in told if cid in readers and reads_a_change(a, readers[cid][0].language)
    )
    new = len(earlier.first_told(audience, "new"))
    waiting = len(earlier.first_told(audience, "none"))
    return {
        "changed": list(a.changed or ()),
        "told": rounded(len(told)),
        "messaged": {
            "all": rounded(new + changed),
            "new": rounded(new),
            "none": rounded(waiting),
        },
        "told_again": {"all": rounded(changed), "new": 0, "none": 0},
        "warnings": _warnings(before, a),
    }


def _warnings(before: Announcement, a: Announcement) -> list[dict[str, str]]:
    """A language whose text changed while another's did not: told in one language only."""
    changed = set(a.changed or ())
    langs = [lang for lang in a.content if lang in before.content]
    moved = [lang for lang in langs if {f"{lang}.title", f"{lang}.text"} & changed]
    return [
        {
            "field": f"content.{lang}",
            "reason": f"not updated while {', '.join(moved)} was: readers of {lang} are not "
            "told again, and keep the text they have",
        }
        for lang in langs
        if moved and lang not in moved
    ]
