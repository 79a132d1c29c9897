"""Early termination policies: which child runs of a sweep to stop before they finish.

An *interval* is one logged value of the primary metric: the k-th time a child logs it is
its interval k. A policy applies at the intervals that are multiples of
``evaluation_interval`` and at least ``delay_evaluation`` (SDK v1 semantics).

The sweep controller calls ``evaluate(policy, goal, series, candidates)`` whenever child runs
have logged new values. Each running candidate is judged at its latest evaluation interval
``k``; its own figure is its best value over intervals ``1..k``, and every other run of the
sweep (running, finished, or a child of a ``resume_from`` sweep) contributes what it logged
in its own intervals ``1..k`` (runs that are behind contribute what they have so far):

- **BanditPolicy**: stop the run when its best is outside the slack of the best value any run
  reached by interval k. Maximizing: stop when ``best_run * (1 + slack_factor) < best_all``
  (or ``best_run + slack_amount < best_all``). Minimizing: stop when
  ``best_run > best_all * (1 + slack_factor)`` (or ``best_run - slack_amount > best_all``).
- **MedianStoppingPolicy**: stop the run when its best is worse than the median, over the
  other runs, of their running averages of intervals ``1..k``.
- **TruncationSelectionPolicy**: rank the runs that reached interval k (this one and older
  ones) by their best up to k; stop the run when it is among the lowest
  ``truncation_percentage`` percent (``floor(n * pct / 100)`` of n runs; ties are spared).
  When too few runs have reached the run's latest evaluation interval to cut any, the
  latest earlier evaluation interval where they have is used, so a run that is ahead of
  the others is still ranked against them.
- **NoTerminationPolicy**: never stops a run.

Re-judging a run at the same interval when other runs progress is deliberate: "evaluated
whenever child runs log the primary metric". The result of ``evaluate`` is
``{run_id: reason}`` with a sentence that is recorded on the stopped run.
"""

import math
import numbers

from kyanite.exceptions import UserErrorException

__all__ = ["EarlyTerminationPolicy", "BanditPolicy", "MedianStoppingPolicy",
           "TruncationSelectionPolicy", "NoTerminationPolicy", "check_policy", "evaluate"]

BANDIT, MEDIAN, TRUNCATION, NONE = "Bandit", "MedianStopping", "TruncationSelection", "Default"


class EarlyTerminationPolicy(object):
    """Base class of the policies."""

    _name = None

    def __init__(self, name=None, properties=None):
        self._properties = dict(properties or {})

    @property
    def evaluation_interval(self):
        return self._properties.get("evaluation_interval")

    @property
    def delay_evaluation(self):
        return self._properties.get("delay_evaluation")

    def to_json(self):
        return {"name": self._name, "properties": dict(self._properties)}

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in sorted(self._properties.items())))


class BanditPolicy(EarlyTerminationPolicy):
    """Stop runs whose primary metric is not within ``slack_factor`` (a ratio) or
    ``slack_amount`` (an absolute distance) of the best run's at the same interval."""

    _name = BANDIT

    def __init__(self, evaluation_interval=1, slack_factor=None, slack_amount=None, delay_evaluation=0):
        super(BanditPolicy, self).__init__(properties={
            "evaluation_interval": evaluation_interval, "delay_evaluation": delay_evaluation,
            "slack_factor": slack_factor, "slack_amount": slack_amount})
        self._properties = check_policy(self.to_json())["properties"]

    @property
    def slack_factor(self):
        return self._properties.get("slack_factor")

    @property
    def slack_amount(self):
        return self._properties.get("slack_amount")


class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stop runs whose best primary metric is worse than the median of the running averages
    of all runs."""

    _name = MEDIAN

    def __init__(self, evaluation_interval=1, delay_evaluation=0):
        super(MedianStoppingPolicy, self).__init__(properties={
            "evaluation_interval": evaluation_interval, "delay_evaluation": delay_evaluation})
        self._properties = check_policy(self.to_json())["properties"]


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """At each evaluation interval, stop the runs among the lowest ``truncation_percentage``
    percent by primary metric."""

    _name = TRUNCATION

    def __init__(self, truncation_percentage, evaluation_interval=1, delay_evaluation=0):
        super(TruncationSelectionPolicy, self).__init__(properties={
            "truncation_percentage": truncation_percentage, "evaluation_interval": evaluation_interval,
            "delay_evaluation": delay_evaluation})
        self._properties = check_policy(self.to_json())["properties"]

    @property
    def truncation_percentage(self):
        return self._properties.get("truncation_percentage")


class NoTerminationPolicy(EarlyTerminationPolicy):
    """Let every run finish."""

    _name = NONE

    def __init__(self):
        super(NoTerminationPolicy, self).__init__(properties={})


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UserErrorException("%s must be an integer >= %d, got %r." % (name, minimum, value))
    return int(value)


def _num(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise UserErrorException("%s must be a number >= 0, got %r." % (name, value))
    return float(value)


def check_policy(policy):
    """Validate a serialized policy (``{"name", "properties"}``, what ``to_json()`` gives) and
    return it normalized; None and NoTerminationPolicy come back as None. Raises
    ``UserErrorException`` saying what is wrong."""
    if policy is None:
        return None
    if not isinstance(policy, dict) or policy.get("name") not in (BANDIT, MEDIAN, TRUNCATION, NONE):
        raise UserErrorException("policy must be a BanditPolicy, MedianStoppingPolicy, "
                                 "TruncationSelectionPolicy or NoTerminationPolicy.")
    name, props = policy["name"], dict(policy.get("properties") or {})
    if name == NONE:
        return None
    out = {"evaluation_interval": _int("evaluation_interval", props.get("evaluation_interval", 1), 1),
           "delay_evaluation": _int("delay_evaluation", props.get("delay_evaluation", 0), 0)}
    if name == BANDIT:
        sf, sa = props.get("slack_factor"), props.get("slack_amount")
        if (sf is None) == (sa is None):
            raise UserErrorException("BanditPolicy needs exactly one of slack_factor (a ratio, e.g. 0.1) "
                                     "and slack_amount (an absolute distance).")
        if sf is not None:
            out["slack_factor"] = _num("slack_factor", sf)
        else:
            out["slack_amount"] = _num("slack_amount", sa)
    elif name == TRUNCATION:
        pct = props.get("truncation_percentage")
        if isinstance(pct, bool) or not isinstance(pct, numbers.Integral) or not 1 <= pct <= 99:
            raise UserErrorException("truncation_percentage must be an integer from 1 to 99, got %r." % (pct,))
        out["truncation_percentage"] = int(pct)
    return {"name": name, "properties": out}


# -- evaluation (server side) ---------------------------------------------------------------
def evaluation_point(props, n):
    """The latest interval <= n at which the policy applies, or None."""
    step = props["evaluation_interval"]
    k = (n // step) * step
    if k < max(1, props["delay_evaluation"]):
        return None
    return k


def _fmt(x):
    return "%.6g" % x


def evaluate(policy, goal, series, candidates, metric="the primary metric"):
    """``{run_id: reason}`` for the candidates the policy stops.

    ``policy``: a validated serialized policy (what ``check_policy`` returns; None stops
    nothing); ``goal``: ``"maximize"`` or ``"minimize"``; ``series``: ``{run_id: [values in
    interval order]}`` for every run that takes part in the comparison; ``candidates``: ids of
    the running children that may be stopped; ``metric``: the name used in the reasons.
    Pure: it reads its arguments only and changes nothing."""
    if policy is None:
        return {}
    maximize = goal == "maximize"
    best = max if maximize else min
    name, props = policy["name"], policy["properties"]
    out = {}
    for rid in candidates:
        mine = series.get(rid) or []
        k = evaluation_point(props, len(mine))
        if k is None:
            continue
        own = best(mine[:k])
        others = dict((o, vals[:k]) for o, vals in series.items() if o != rid and vals)
        if name == BANDIT:
            top = best([own] + [best(v) for v in others.values()])
            if "slack_factor" in props:
                sf = props["slack_factor"]
                bad = own * (1 + sf) < top if maximize else own > top * (1 + sf)
                cutoff = top / (1 + sf) if maximize else top * (1 + sf)
                slack = "slack_factor %s" % _fmt(sf)
            else:
                sa = props["slack_amount"]
                bad = own + sa < top if maximize else own - sa > top
                cutoff = top - sa if maximize else top + sa
                slack = "slack_amount %s" % _fmt(sa)
            if bad:
                out[rid] = ("Canceled by BanditPolicy at interval %d: its best %s, %s, is outside the %s of "
                            "the best run's %s (cut-off %s)." % (k, metric, _fmt(own), slack, _fmt(top),
                                                                 _fmt(cutoff)))
        elif name == MEDIAN:
            if not others:
                continue
            averages = sorted(sum(v) / len(v) for v in others.values())
            m = len(averages)
            median = averages[m // 2] if m % 2 else (averages[m // 2 - 1] + averages[m // 2]) / 2.0
            if (own < median) if maximize else (own > median):
                out[rid] = ("Canceled by MedianStoppingPolicy at interval %d: its best %s, %s, is worse than "
                            "the median %s of the running averages of %d other run(s)." % (
                                k, metric, _fmt(own), _fmt(median), m))
        elif name == TRUNCATION:
            # the latest evaluation interval at which enough runs have got that far to rank
            pct = props["truncation_percentage"]
            while k is not None:
                own = best(mine[:k])
                peers = [best(v[:k]) for o, v in series.items() if o != rid and len(v) >= k]
                n = len(peers) + 1
                cut = int(math.floor(n * pct / 100.0))
                if cut >= 1:
                    worse = sum(1 for p in peers if (p < own if maximize else p > own))
                    ties = sum(1 for p in peers if p == own)
                    if worse + ties < cut:  # among the `cut` lowest, placed above the runs it ties with
                        out[rid] = ("Canceled by TruncationSelectionPolicy at interval %d: its best %s, %s, is "
                                    "in the lowest %d%% of the %d runs that reached this interval." % (
                                        k, metric, _fmt(own), pct, n))
                    break
                k -= props["evaluation_interval"]
                if k < max(1, props["delay_evaluation"]):
                    k = None
    return out
