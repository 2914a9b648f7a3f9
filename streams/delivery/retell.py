"""Who an update is told to, and as what (``Announcement.retell``, ``Announcement.changed``).

- Those an earlier version reached (the provider took their message: ``Ledger.reached``) are
  told again, as an update naming what changed, only with ``retell: all`` and only if what they
  read changed: the text in their language (the one ``Announcement.content_for`` gives them),
  or the area, validity, severity or category. Updating only the French text tells nobody who
  reads the English one.
- Those the new version reaches and no earlier version did get it as a first message, with
  ``all`` and ``new``.
- ``none``, a silent correction, messages nobody again and nobody new; a citizen whose message of
  an earlier version was still waiting (quiet hours, a send not done) gets the corrected one
  instead, since that earlier one now ends ``superseded``.

A record written before ``retell`` and ``changed`` existed is ``all`` with everything changed:
everyone told before hears of it again, as then.
"""

from __future__ import annotations

import dataclasses

from streams.announcements import Announcement
from streams.state.ledger import Ledger
from subscriptions.live_index import Audience

TOOK = ("sent", "delivered")  # the provider took it: the citizen was told


@dataclasses.dataclass(frozen=True)
class Earlier:
    """What the earlier versions of an event did: per channel, who was told; who was queued."""

    reached: dict[str, set[str]]
    addressed: set[str]

    @classmethod
    async def read(cls, ledger: Ledger, city: str, event: str) -> Earlier:
        reached: dict[str, set[str]] = {}
        addressed = set()
        for citizen, channel, status in await ledger.addressed(city, event):
            addressed.add(citizen)
            if status in TOOK:
                reached.setdefault(channel, set()).add(citizen)
        return cls(reached, addressed)

    @property
    def told(self) -> set[str]:
        return set().union(*self.reached.values())

    def told_on(self, channel: str) -> list[str]:
        return sorted(self.reached.get(channel, ()))

    def first_told(self, audience: Audience, retell: str) -> Audience:
        """Those of the new version's audience to whom it is a first message."""
        told = self.told
        keep = [
            i
            for i, c in enumerate(audience.citizens)
            if c not in told and (retell != "none" or c in self.addressed)
        ]
        reasons = audience.reasons
        return Audience(
            [audience.citizens[i] for i in keep],
            [audience.channels[i] for i in keep],
            {},
            reasons=None if reasons is None else [reasons[i] for i in keep],
        )


def reads_a_change(a: Announcement, language: str) -> bool:
    """Whether a reader in ``language``, told an earlier version, reads something new."""
    changed = a.changes_for(language)
    return changed is None or bool(changed)
