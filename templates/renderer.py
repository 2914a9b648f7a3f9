"""The sandboxed renderer of the message templates.

Files are ``templates/<kind>/<part>.<language>.j2`` where part is one of the ``PARTS`` of the
kind's channels (``templates.MESSAGE_KINDS``: ``email_subject``, ``email_text``, ``email_html``,
``sms``, ``push_title``, ``push_body``). HTML parts are autoescaped, the others are not; an
undefined variable is an error. Content written by departments is passed as data and never
evaluated as template code.
``Renderer.check()`` loads every template at start-up, so a broken template stops the start with
a clear message instead of failing a send.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jinja2 import PackageLoader, StrictUndefined, pass_context
from jinja2 import TemplateError as JinjaError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from templates import FALLBACK, LANGUAGES, MESSAGE_KINDS
from templates.i18n import when
from templates.sms import BODY, MAX_UNITS, SmsText, fit

# template files per channel, and the name of what each renders
PARTS = {
    "email": {"email_subject": "subject", "email_text": "text", "email_html": "html"},
    "sms": {"sms": "text"},
    "push": {"push_title": "title", "push_body": "body"},
}
SMS_SEGMENTS = {"confirmation": 1}  # budget per kind; 2 segments for the others
SINGLE_LINE = {"email_subject", "push_title", "push_body", "sms"}


class TemplateError(Exception):
    """A template is missing, broken or refers to data it was not given."""


@dataclasses.dataclass(frozen=True)
class Brand:
    """A city's look in its messages: name, colour, logo, and the timezone dates are shown in."""

    name: str = "Paris"
    colour: str = "#0b3d91"
    logo_url: str = ""  # absolute URL of a PNG; none: the name alone
    icon_url: str = ""  # push notifications' icon
    timezone: str = "Europe/Paris"


class Renderer:
    def __init__(self, default_language: str = FALLBACK, brand: Brand | None = None) -> None:
        self.default_language = default_language
        self.brand = brand or Brand()
        self.env = SandboxedEnvironment(
            loader=PackageLoader("templates", ""),
            autoescape=lambda name: bool(name and "_html" in name),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # a context's own ``brand`` (its city's: ``Deps.city_context``) overrides this one
        self.env.globals["brand"] = self.brand

        @pass_context
        def when_there(ctx: Context, ts: float | None, lang: str) -> str:
            return when(ts, lang, ctx.get("brand", self.brand).timezone)

        self.env.filters["when"] = when_there

    def language_for(self, kind: str, language: str) -> str:
        """The citizen's language if the kind has it, else the city's default, else French."""
        known = MESSAGE_KINDS.get(kind)
        part = next(iter(PARTS[known.channels[0]])) if known else "email_subject"
        for lang in (language, self.default_language, FALLBACK):
            if lang in LANGUAGES:
                try:
                    self.env.get_template(f"{kind}/{part}.{lang}.j2")
                    return lang
                except JinjaError:
                    continue
        raise TemplateError(
            f"no {kind} template in {language}, {self.default_language} or {FALLBACK}"
        )

    def render(self, kind: str, part: str, language: str, context: Mapping[str, Any]) -> str:
        name = f"{kind}/{part}.{self.language_for(kind, language)}.j2"
        try:
            text = self.env.get_template(name).render(context)
        except JinjaError as e:
            raise TemplateError(f"{name}: {e}") from e
        return text.strip() if part in SINGLE_LINE else text

    def render_parts(
        self, kind: str, channel: str, language: str, context: Mapping[str, Any]
    ) -> dict[str, str]:
        """The message of ``kind`` on ``channel``: {subject, text, html} for email, {text} for
        SMS (fitted to its budget of segments), {title, body} for push."""
        if channel == "sms":
            return {"text": self.render_sms(kind, language, context).text}
        return {
            name: self.render(kind, part, language, context)
            for part, name in PARTS[channel].items()
        }

    def render_sms(self, kind: str, language: str, context: Mapping[str, Any]) -> SmsText:
        """The SMS with its encoding and segments; the body is cut to the kind's budget."""
        budget = SMS_SEGMENTS.get(kind, 2)
        if "body" not in context:
            sms = fit(self.render(kind, "sms", language, context), "", budget)
        else:
            marked = self.render(kind, "sms", language, {**context, "body": BODY})
            sms = fit(marked, str(context["body"]), budget)
        if context.get("link") and len(sms.text.encode("utf-16-le")) // 2 > MAX_UNITS:
            # a link is never cut, but one longer than an SMS can hold is left out (the email
            # and the push carry it): else the provider refuses the whole message
            return self.render_sms(kind, language, {**context, "link": ""})
        return sms

    def render_email(self, kind: str, language: str, context: Mapping[str, Any]) -> dict[str, str]:
        return self.render_parts(kind, "email", language, context)

    def check(self) -> int:
        """Load every template; the number loaded, or ``TemplateError`` naming the broken one."""
        n = 0
        for kind, known in MESSAGE_KINDS.items():
            parts = [p for channel in known.channels for p in PARTS[channel]]
            for part in parts:
                for lang in LANGUAGES:
                    name = f"{kind}/{part}.{lang}.j2"
                    try:
                        self.env.get_template(name)
                    except JinjaError as e:
                        raise TemplateError(f"{name}: {e}") from e
                    n += 1
        return n
