"""The delivery core: from an event to notifications queued (``expand``, ``fanout``,
``digests``, ``fallback``, ``requests``), handed to the channels (``send``, in ``lanes``, with
``coalesce``'s group commit) and their receipts folded in (``track``). No Faust here: the
agents (``streams.agents``) call these through ``streams.handlers``."""
