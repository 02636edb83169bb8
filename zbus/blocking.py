"""BlockingNode: the Node API without ``await``, for scripts, notebooks and the CLI.

It runs a ``Node`` on an event loop in a daemon thread; every method is one call into that
loop with a deadline, so a wedged loop raises ``LoopBlockedError`` instead of hanging. Handlers
registered with ``on``/``subscribe(handler=...)`` run on the loop thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from .config import Config
from .delivery.subscription import Handler, Subscription
from .errors import ClosedError, LoopBlockedError, WaitTimeout
from .model.event import Event
from .model.peer import PeerInfo
from .node import Node
from .observe.statistics import NodeStatistics

__all__ = ["BlockingNode", "BlockingSubscription"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
#: seconds a BlockingNode call waits for the loop thread beyond its own timeout before it raises
#: LoopBlockedError (``call_timeout=`` overrides it)
DEFAULT_CALL_TIMEOUT = 30.0
#: seconds each wait of ``for event in sub`` lasts before it checks again whether the loop is alive;
#: a liveness poll, not a delivery delay (events are returned as soon as they arrive)
ITERATION_POLL = 1.0
#: seconds closing a BlockingNode waits for leftover tasks to end after their cancellation (a bound on
#: shutdown, not a tuning knob)
LOOP_WIND_DOWN = 5.0


class BlockingNode:
    """A ``Node`` for synchronous code. Use ``with BlockingNode(name="cli") as node:``.

    Args are those of ``Node``; ``call_timeout`` bounds every call (seconds) beyond its own
    timeout, after which ``LoopBlockedError`` is raised.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        config: str | os.PathLike[str] | Mapping[str, Any] | Config | None = None,
        mesh: str | None = None,
        role: str = "node",
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> None:
        self._node = Node(name, config=config, mesh=mesh, role=role)
        self._call_timeout = call_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"zbus-{self._node.name}", daemon=True
        )
        self._thread.start()

    @property
    def node(self) -> Node:
        """The underlying async ``Node`` (use it only from the loop thread)."""
        return self._node

    @property
    def name(self) -> str:
        """The node name."""
        return self._node.name

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise ClosedError(f"BlockingNode {self._node.name!r} is closed; create a new one")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        limit = self._call_timeout + (timeout or 0.0)
        try:
            return future.result(limit)
        except TimeoutError:
            if future.done():
                raise
            future.cancel()
            raise LoopBlockedError(
                f"the zbus loop thread did not answer within {limit:.1f} s; a handler may be blocking it"
            ) from None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> BlockingNode:
        """Join the mesh (``with`` does this for you). On failure the loop thread is stopped too."""
        try:
            self._run(self._node.start())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def _stop_loop(self) -> None:
        """Finish the loop as ``asyncio.run`` does, then stop it: tasks still pending (a library's
        fire-and-forget work) are cancelled and awaited, async generators and the default executor
        shut down, so closing the loop destroys no pending task and warns about nothing."""
        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(_wind_down(), self._loop).result(LOOP_WIND_DOWN)
            except Exception:  # a wedged loop: stop it anyway (the warning then tells the truth)
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    def close(self) -> None:
        """Leave the mesh and stop the loop thread. Idempotent."""
        if not self._thread.is_alive():
            return
        try:
            self._run(self._node.close())
        finally:
            self._stop_loop()

    def __enter__(self) -> BlockingNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the Node API, one line each ----------------------------------------------------------------
    def publish(self, type: str, payload: Any = None, **fields: Any) -> str:
        """See ``Node.publish``."""
        return self._run(self._node.publish(type, payload, **fields))

    def publish_batch(self, events: Iterable[Event | tuple[str, Any]]) -> list[str]:
        """See ``Node.publish_batch``."""
        return self._run(self._node.publish_batch(list(events)))

    def subscribe(
        self, *patterns: str, handler: Handler | None = None, **options: Any
    ) -> BlockingSubscription:
        """See ``Node.subscribe``; without a handler, read with ``next()`` or a ``for`` loop."""
        sub = self._run(self._node.subscribe(*patterns, handler=handler, **options))
        return BlockingSubscription(self, sub)

    def record(self, *patterns: str) -> BlockingSubscription:
        """See ``Node.record``."""
        return BlockingSubscription(self, self._run(self._node.record(*patterns)))

    def on(self, *patterns: str, **options: Any) -> Callable[[F], F]:
        """See ``Node.on``."""
        decorator = self._node.on(*patterns, **options)
        return lambda func: self._run(_call(decorator, func))

    def on_pattern(self, regex: str, **options: Any) -> Callable[[F], F]:
        """See ``Node.on_pattern``."""
        decorator = self._node.on_pattern(regex, **options)
        return lambda func: self._run(_call(decorator, func))

    def respond(self, type: str) -> Callable[[F], F]:
        """See ``Node.respond``."""
        decorator = self._node.respond(type)
        return lambda func: self._run(_call(decorator, func))

    def request(self, type: str, payload: Any = None, *, timeout: float = 5.0, **options: Any) -> Event:
        """See ``Node.request``."""
        return self._run(self._node.request(type, payload, timeout=timeout, **options), timeout)

    def wait_for_peers(
        self, count: int = 1, *, timeout: float = 10.0, names: Iterable[str] = ()
    ) -> list[PeerInfo]:
        """See ``Node.wait_for_peers``."""
        return self._run(self._node.wait_for_peers(count, timeout=timeout, names=tuple(names)), timeout)

    def wait_for_responders(self, type: str, count: int = 1, *, timeout: float = 10.0) -> int:
        """See ``Node.wait_for_responders``."""
        return self._run(self._node.wait_for_responders(type, count, timeout=timeout), timeout)

    def wait_for_subscribers(
        self, topic: str, count: int = 1, *, timeout: float = 10.0, group: str | None = None
    ) -> int:
        """See ``Node.wait_for_subscribers``."""
        return self._run(self._node.wait_for_subscribers(topic, count, timeout=timeout, group=group), timeout)

    @property
    def peers(self) -> list[PeerInfo]:
        """See ``Node.peers``."""
        return self._run(_value(lambda: self._node.peers))

    def statistics(self) -> NodeStatistics:
        """See ``Node.statistics``."""
        return self._run(_value(self._node.statistics))

    def __repr__(self) -> str:
        return f"<zbus.BlockingNode wrapping {self._node!r}>"


class BlockingSubscription:
    """A subscription read synchronously: ``sub.next(timeout=1)`` or ``for event in sub``."""

    def __init__(self, owner: BlockingNode, sub: Subscription) -> None:
        self._owner = owner
        self.subscription = sub

    def next(self, timeout: float | None = None) -> Event:
        """Wait up to ``timeout`` seconds (``None``: forever) for the next event.

        Raises:
            WaitTimeout: nothing arrived in time. ClosedError: unsubscribed and drained.
        """
        while timeout is None:
            try:
                return self._owner._run(self.subscription.next(1.0), 1.0)
            except WaitTimeout:
                continue
        return self._owner._run(self.subscription.next(timeout), timeout)

    def __iter__(self) -> Iterator[Event]:
        while True:
            try:
                yield self.next(timeout=ITERATION_POLL)
            except WaitTimeout:
                continue
            except ClosedError:
                return

    def unsubscribe(self) -> None:
        """End the subscription."""
        self._owner._run(self.subscription.unsubscribe())

    def __enter__(self) -> BlockingSubscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()


async def _wind_down() -> None:
    """Cancel and await every other task of the running loop, then shut down async generators and
    the default executor (what ``asyncio.run`` does before closing its loop)."""
    me = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not me]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


async def _call(decorator: Callable[[F], F], func: F) -> F:
    return decorator(func)


async def _value(getter: Callable[[], T]) -> T:
    return getter()
