"""Wake HTTP long-polls when a run changes (status, log bytes, metrics).

``changed(run_id)`` may be called from any thread; ``await wait(run_id, timeout)`` returns
True when a change came before the timeout. Callers re-check state after waking.
"""

import asyncio
import threading


class Notifier(object):
    def __init__(self):
        self._lock = threading.Lock()
        self._waiters = {}

    def changed(self, run_id):
        with self._lock:
            waiters = self._waiters.pop(run_id, [])
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_resolve, fut)

    async def wait(self, run_id, timeout):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            self._waiters.setdefault(run_id, []).append((loop, fut))
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                lst = self._waiters.get(run_id)
                if lst and (loop, fut) in lst:
                    lst.remove((loop, fut))


def _resolve(fut):
    if not fut.done():
        fut.set_result(True)
