"""Printing a run's log, once or following it until the run ends.

Reads the log endpoint with byte offsets (only what is new each time) and long-polls
``/api/runs/{id}/wait`` between reads, as ``Run.wait_for_completion(show_output=True)``
does, but without its banner, so the output is the log itself.
"""

import sys

from kyanite.protocol.states import TERMINAL_STATES
from kyanite.protocol.runfiles import DRIVER_LOG


def _write(data):
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        sys.stdout.flush()
        out.write(data)
    sys.stdout.flush()


def print_log(run, name=DRIVER_LOG):
    """Print the log as it is now; returns the run's status."""
    data, _size, status = run._read_log(name, 0)
    if data:
        _write(data)
    return status


def follow_log(run, name=DRIVER_LOG, offset=0):
    """Print the log from ``offset`` as it grows, until the run ends; returns the final status."""
    while True:
        data, offset, status = run._read_log(name, offset)
        if data:
            _write(data)
        if status in TERMINAL_STATES:
            data, offset, status = run._read_log(name, offset)  # what landed with the end
            if data:
                _write(data)
            return status
        run._client.get("/api/runs/%s/wait" % run.id,
                        params={"log_offset": offset, "status": status, "timeout": 10})
