"""Errors of the composition root.

The exception tree of the service (each package defines its own, since ``channels``,
``subscriptions`` and ``templates`` never import ``notifier``)::

    ConfigError(ValueError)                   notifier.errors: a setting is missing or wrong
    subscriptions.errors.SubscriptionError
        InvalidInput(ValueError)              a field of a citizen's or department's input is wrong
        NotFound(KeyError)                    no such citizen, subscription, event or area
    templates.renderer.TemplateError          a template is missing or does not render
    channels.base.ChannelError
        TransientChannelError                 try again later (4xx SMTP reply, 429, 5xx, timeout)
        PermanentChannelError                 do not try again (5xx SMTP reply, invalid recipient)
    (a record on a topic that does not decode raises InvalidInput too, and goes to dead letters)
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is missing or wrong; the CLI prints it and exits non-zero."""
