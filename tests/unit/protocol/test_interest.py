"""protocol.interest: who hears a topic (Audience, Rule 4) and who is sure to receive it."""

from __future__ import annotations

from zbus.protocol.interest import Audience


def test_a_topic_is_heard_while_a_subscription_prefix_reaches_it() -> None:
    audience = Audience()
    assert not audience.hears("task.run")  # nobody subscribed: ZeroMQ would drop it
    audience.subscribed(True, b"task.")
    assert audience.hears("task.run") and not audience.hears("order.placed")
    audience.subscribed(True, b"task.")  # a second SUB with the same prefix
    audience.subscribed(False, b"task.")
    assert audience.hears("task.run")  # one is left
    audience.subscribed(False, b"task.")
    assert not audience.hears("task.run")


def test_an_empty_prefix_hears_everything_and_extra_unsubscribes_do_not_go_negative() -> None:
    audience = Audience()
    audience.subscribed(False, b"")  # an unsubscribe never counted: ignored
    assert not audience.hears("a")
    audience.subscribed(True, b"")  # a monitor
    assert audience.hears("a") and audience.hears("zbus.anything")
    audience.subscribed(False, b"")
    assert not audience.hears("a") and audience.counts[b""] == 0
