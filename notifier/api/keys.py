"""Typed keys of the state the aiohttp application carries."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from notifier.settings import Settings
from streams.deps import Services
from subscriptions.gazetteer import Gazetteers

if TYPE_CHECKING:  # the API serves what ``notifier up`` runs; it never imports the fakes
    from notifier.dev.twilio_fake import TwilioFake

SETTINGS = web.AppKey("settings", Settings)
DEPS = web.AppKey("deps", Services)


@dataclasses.dataclass
class DevServices:
    """What ``notifier up`` runs in place of real providers, shown under ``/dev/``."""

    outbox_dir: Path | None = None  # the local SMTP outbox's messages
    twilio: TwilioFake | None = None  # the local Twilio-shaped server


DEV = web.AppKey("dev", DevServices)
CHECKS = web.AppKey("checks", dict)  # name -> async () -> True or why not, asked by /readyz
GAZETTEERS = web.AppKey("gazetteers", Gazetteers)  # the cities' addresses, read on first use
