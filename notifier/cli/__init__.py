"""The ``notifier`` command: ``main`` (its parser and the process commands ``up``, ``worker``,
``api``) and one module per operator's subcommand: ``admin`` (cities, keys, dead letters, CAP
import), ``stuck``, ``topics`` and ``import_subscribers``."""
