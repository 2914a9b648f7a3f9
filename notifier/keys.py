"""Typed keys of the state the aiohttp application carries."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from notifier.settings import Settings
from streams.deps import Deps

SETTINGS = web.AppKey("settings", Settings)
DEPS = web.AppKey("deps", Deps)
OUTBOX_DIR = web.AppKey("outbox_dir", Path)
