"""Fixed names inside a run's file tree that the run host, the server and the clients share.

Contract: ``DRIVER_LOG`` is the key of the script's combined stdout/stderr log; ``OUTPUTS``
and ``LOGS`` are the prefixes of the files a run keeps and the logs shipped while it runs.
"""

__all__ = ["DRIVER_LOG", "OUTPUTS", "LOGS"]

DRIVER_LOG = "user_logs/std_log.txt"
OUTPUTS = "outputs/"
LOGS = "logs/"
