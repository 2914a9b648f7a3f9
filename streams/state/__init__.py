"""What the stages keep in Redis and share between processes: the delivery ledger (``ledger``),
accepted events (``event_store``, the outbox), service requests (``request_store``), records to
publish later (``scheduler``), monthly quotas (``quotas``), rate limits (``ratelimit``) and dead
letters (``dead_letters``). The API reads and writes them too; none imports Faust."""
