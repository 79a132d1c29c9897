"""Wake HTTP long-polls when a run changes (status, log bytes, metrics).

``changed(run_id)`` may be called from any thread. A waiter subscribes BEFORE it reads
the state it waits on (so a change between the read and the wait is not missed), then
awaits the future: ``fut = subscribe(id)``; read; ``await wait_for(fut, timeout)``;
``unsubscribe(id, fut)``. Callers re-check state after waking.
"""

import asyncio
import threading
from typing import Any


class Notifier(object):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[Any, Any] = {}
        self.closing = False

    def close(self) -> None:
        """The server is shutting down: wake every waiter once. Long-polls that check
        ``closing`` answer at once instead of holding the shutdown for their whole timeout."""
        self.closing = True
        with self._lock:
            waiters = [w for lst in self._waiters.values() for w in lst]
            self._waiters.clear()
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_resolve, fut)

    def changed(self, run_id: str) -> None:
        with self._lock:
            waiters = self._waiters.pop(run_id, [])
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_resolve, fut)

    def subscribe(self, run_id: str) -> Any:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            self._waiters.setdefault(run_id, []).append((loop, fut))
        return fut

    def unsubscribe(self, run_id: str, fut: Any) -> None:
        with self._lock:
            lst = self._waiters.get(run_id)
            if lst:
                lst[:] = [w for w in lst if w[1] is not fut]
                if not lst:
                    del self._waiters[run_id]

    async def wait(self, run_id: str, timeout: float) -> Any:
        """Wait for the next change (no state read in between; see the module docstring)."""
        fut = self.subscribe(run_id)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self.unsubscribe(run_id, fut)


def _resolve(fut: Any) -> None:
    if not fut.done():
        fut.set_result(True)
