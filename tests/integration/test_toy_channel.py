"""What a new provider needs, shown with a toy one: a pager service reached by phone number.

Its module (here, this test) holds its message type, how a message is built from a batch's rendered
parts and a contact point (``Channel.messages``), what its provider's refusals mean for consent
(``PermanentChannelError.contact_status``) and what its receipts mean for the ledger
(``Channel.receipt``). Registering it is its line in ``channels.KINDS`` (the parts of its messages:
its topics, its agents and the wire records follow) and its construction in
``notifier.wiring.make_channels``; its templates go under ``templates/``. Nothing in ``streams/``
changes: the real send path (``streams.delivery.send.send_batch``, real Redis) hands its messages
over, retries, fails, switches a contact point off and tracks receipts.

A pager is reached at a phone number, a contact point kind the service has (``sms``): a new kind
of address would also be parsed and kept by ``subscriptions/contacts.py`` and the API.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest

import channels
from channels.base import (
    Address,
    Addressee,
    Batch,
    Channel,
    ChannelError,
    Origin,
    PermanentChannelError,
    Receipted,
    Sent,
    TransientChannelError,
)
from streams.delivery.send import send_batch
from streams.delivery.track import track_receipt
from streams.deps import Deps
from streams.records import DEAD_LETTER, DeliveryBatch, Receipt, Recipient, loads
from streams.state.ledger import notification_id
from streams.topics import TopicNames
from tests.handler_stage import Published

# -- the provider's module --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Page:
    to: str
    text: str
    notification_id: str
    callback: str | None


class NoSuchPagerError(PermanentChannelError):
    """The pager service does not know the number: the contact point is gone for good."""

    contact_status = "gone"
    how = "pager service: no such pager"


class ToyPagerChannel(Channel[Page]):
    name = "pager"
    provider = "toypager"
    receipts = True  # it says later whether the page beeped

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.refusals: dict[str, ChannelError] = {}  # number -> what the service answers

    def messages(self, batch: Batch, origin: Origin) -> Callable[[Addressee, Address], Page]:
        variants, callback = batch.variants, origin.receipts_url

        def message(r: Addressee, cp: Address) -> Page:
            return Page(cp.address, variants[r.language]["text"], r.id, callback)

        return message

    @classmethod
    def receipt(cls, status: str, error_code: str) -> Receipted | None:
        if status == "beeped":
            return Receipted("delivered")
        if status == "unknown-pager":
            return Receipted("failed", f"toypager {error_code}", "gone", NoSuchPagerError.how)
        return None  # "paging": nothing for the ledger

    async def _send(self, message: Page) -> Sent:
        refusal = self.refusals.get(message.to)
        if refusal is not None:
            raise refusal
        self.pages.append(message)
        return Sent(provider_id=f"page-{len(self.pages)}")

    async def close(self) -> None:
        pass


# -- its wiring -------------------------------------------------------------------------------


@pytest.fixture
def pager(deps: tuple[Deps, Published], monkeypatch: pytest.MonkeyPatch) -> ToyPagerChannel:
    d, _ = deps
    # its line in channels.KINDS
    monkeypatch.setitem(channels.KINDS, "pager", channels.Kind(("text",), interrupts=True))
    # what the process makes of channels.NAMES at start (its topics), with it
    prefix = d.topics.city_events.removesuffix("city-events")
    d.topics = TopicNames.with_prefix(prefix, (*channels.NAMES, "pager"))
    # its construction in notifier.wiring.make_channels
    channel = ToyPagerChannel()
    d.channels["pager"] = channel
    return channel


async def test_a_toy_provider_goes_through_the_real_send_path(
    deps: tuple[Deps, Published], pager: ToyPagerChannel
) -> None:
    d, published = deps
    assert d.topics.deliveries("pager") == "deliveries.pager"
    assert d.topics.deliveries("pager", "urgent") == "deliveries.pager.urgent"
    numbers = ["+33600000001", "+33600000002", "+33600000003"]
    pager.refusals[numbers[1]] = NoSuchPagerError("pager service: 404")
    pager.refusals[numbers[2]] = TransientChannelError("pager service: busy", retry_after=60)
    event = "evt_page"
    recipients = []
    for number in numbers:
        c = await d.store.create_citizen("paris", "fr")
        cp = await d.store.add_contact("paris", c.id, "sms", number, "confirmed", "test")
        nid = notification_id("paris", event, c.id, "pager")
        recipients.append(Recipient(nid, c.id, cp.id, number, "fr"))
    rows = [(r.id, r.citizen, r.contact) for r in recipients]
    assert await d.ledger.enqueue("paris", event, "pager", rows) == ["queued"] * 3
    batch = DeliveryBatch(
        "paris",
        event,
        "request_status",
        {"fr": {"text": "Votre demande est traitée."}},
        tuple(recipients),
        channel="pager",
    )

    outcomes = await send_batch(batch.to_wire(), d)

    assert outcomes == {"sent": 1, "failed": 1, "retrying": 1}
    [page] = pager.pages
    assert page == Page(numbers[0], "Votre demande est traitée.", recipients[0].id, page.callback)
    assert page.callback == d.receipts_url("paris")
    ok, gone, busy = [await d.ledger.get("paris", r.id) for r in recipients]
    assert ok["status"] == "sent" and ok["provider_id"] == "page-1"
    # the provider's refusal for good: failed, a dead letter, the contact point switched off
    assert gone["status"] == "failed" and gone["error"] == "pager service: 404"
    assert (await d.store.contact("paris", recipients[1].contact)).status == "gone"
    [letter] = [loads(v, DEAD_LETTER) for t, _, v in published if t == d.topics.dead_letters]
    assert letter["topic"] == "deliveries.pager"
    # a transient one: tried again later, through the scheduler, on the pager's topic
    assert busy["status"] == "queued" and busy["error"] == "pager service: busy"
    [(_, topic, _, value)] = await d.scheduler.due("paris", now=time.time() + 3600)
    assert topic == "deliveries.pager"
    assert [r.id for r in DeliveryBatch.from_wire(value).recipients] == [recipients[2].id]

    # its receipts: asked of the channel, by the provider's name
    async def receipt(provider_id: str, status: str, code: str = "") -> str:
        raw = Receipt("paris", "toypager", provider_id, status, code).to_wire()
        return await track_receipt(raw, d)

    assert await receipt("page-1", "paging") == "ignored"
    assert await receipt("page-1", "beeped") == "delivered"
    assert (await d.ledger.get("paris", recipients[0].id))["status"] == "delivered"
    assert await receipt("page-1", "unknown-pager", "44") == "not newer"
    assert (await d.store.contact("paris", recipients[0].contact)).status == "gone"
