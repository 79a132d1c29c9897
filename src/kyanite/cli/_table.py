"""Plain-text formatting for the CLI: aligned tables, times, durations, sizes."""

import datetime

DASH = "-"


def table(headers, rows):
    """Lines of a left-aligned table with a header row; cells are str()-ed, None is '-'."""
    cells = [[DASH if c is None else str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))

    def line(values):
        padded = [v.ljust(widths[i]) for i, v in enumerate(values[:-1])] + [values[-1]]
        return "  ".join(padded).rstrip()

    return [line(list(headers))] + [line(row) for row in cells]


def fields(pairs, indent=""):
    """Lines of ``Label:  value`` pairs with the values aligned; None values are skipped."""
    pairs = [(k, v) for k, v in pairs if v is not None]
    width = max([len(k) for k, _ in pairs] or [0]) + 1
    return ["%s%s %s" % (indent, (k + ":").ljust(width), v) for k, v in pairs]


def parse_utc(text):
    """A server timestamp (``2024-05-01T12:03:04.123Z``) as an aware datetime, or None."""
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    return None


def local_time(text):
    """A server timestamp in this machine's time zone, to the second; '-' when absent."""
    t = parse_utc(text)
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else DASH


def duration(seconds):
    """``0.4s``, ``12.3s``, ``4m 05s``, ``2h 03m``; '-' when unknown."""
    if seconds is None:
        return DASH
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return "%.1fs" % seconds
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return "%dm %02ds" % (minutes, secs)
    hours, minutes = divmod(minutes, 60)
    return "%dh %02dm" % (hours, minutes)


def size(n):
    """A byte count for people: ``512 B``, ``1.5 KB``, ``3.2 MB``."""
    n = float(n or 0)
    if n < 1024:
        return "%d B" % n
    for unit in ("KB", "MB", "GB"):
        n /= 1024.0
        if n < 1024 or unit == "GB":
            return "%.1f %s" % (n, unit)


def value(v, limit=60):
    """A metric value, short: floats with 6 significant digits, long text cut."""
    if isinstance(v, float):
        text = "%.6g" % v
    else:
        text = str(v)
    return text if len(text) <= limit else text[:limit - 3] + "..."
