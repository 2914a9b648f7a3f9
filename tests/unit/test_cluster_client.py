"""The Redis Cluster client's transactions find a queued command's slot from its key
(``notifier.cluster_client``), or leave the command to redis-py."""

from __future__ import annotations

from notifier.cluster_client import first_key


def test_the_key_of_the_commands_the_stores_queue_is_their_first_argument() -> None:
    assert first_key(("HSET", "n:{paris}:sub:s1", "kind", "area")) == "n:{paris}:sub:s1"
    assert first_key(("SADD", "n:{paris}:citizen:c1:subs", "s1")) == "n:{paris}:citizen:c1:subs"
    assert first_key(("del", "n:{paris}:code:p1", "n:{paris}:contact:p1")) == "n:{paris}:code:p1"


def test_a_script_is_placed_by_its_first_key_and_a_keyless_one_left_to_redis_py() -> None:
    assert first_key(("EVALSHA", "abc", 2, "n:{paris}:subs:log", "n:{paris}:subs:seq")) == (
        "n:{paris}:subs:log"
    )
    assert first_key(("EVAL", "return 1", 0)) is None


def test_a_command_it_does_not_know_is_left_to_redis_py() -> None:
    assert first_key(("MSET", "a", "1", "b", "2")) is None
    assert first_key(("WATCH", "n:{paris}:address:email:a@b.c")) is None
