"""Bounded types for the routes' integer parameters.

The store keeps integers as 64-bit (SQLite's INTEGER, PostgreSQL's BIGINT), and file
offsets are 64-bit too, so an integer path or query parameter is declared ``Int64``: a
value outside that range is refused with a 422 naming the parameter, before it reaches a
query, and the OpenAPI document states the bounds.
"""

from typing import Annotated

from annotated_types import Interval

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1

Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
