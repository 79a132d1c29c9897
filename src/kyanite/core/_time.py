"""Times as the server writes them (``2026-11-27T16:36:34.775Z``) into aware datetimes."""

import datetime


def parse_time(text):
    """A UTC ``datetime`` from the server's ISO form; None for empty or unreadable text."""
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
