"""Gates: a suite's thresholds and maximum regressions, checked against a run.

`check` returns one line per failed gate, in the form CI logs show:

    grounded 0.91 < 0.95
    acl_leak 0.02 > 0 (max)
    ndcg@10 fell 0.061 from the baseline's 0.712 (allowed 0.05)

A metric that could not be computed (no item it applies to) fails its gate: a
gate that never ran must not pass.
"""

from __future__ import annotations

from typing import Any

from grounded.evals.suite import LOWER_IS_BETTER, Suite


def check(suite: Suite, run: dict[str, Any], baseline: dict[str, Any] | None = None) -> list[str]:
    aggregates = run["aggregates"]
    failures: list[str] = []
    for metric in suite.thresholds:
        bound = suite.bound(metric)
        value = aggregates.get(metric, {}).get("mean")
        if bound is None:
            continue
        if value is None:
            failures.append(f"{metric} not computed (no item it applies to)")
            continue
        if bound.min is not None and value < bound.min:
            failures.append(f"{metric} {value:.3g} < {bound.min:g}")
        if bound.max is not None and value > bound.max:
            failures.append(f"{metric} {value:.3g} > {bound.max:g} (max)")
    if baseline is not None:
        failures += _regressions(suite, aggregates, baseline["aggregates"])
    return failures


def check_stored(run: dict[str, Any]) -> list[str]:
    """The gates of the suite stored in a run, re-checked against that run."""
    suite = Suite.model_validate({k: v for k, v in run["suite"].items() if k != "sha256"})
    return check(suite, run)


def _regressions(suite: Suite, current: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    failures = []
    for metric, allowed in suite.max_regression.items():
        now = current.get(metric, {}).get("mean")
        before = baseline.get(metric, {}).get("mean")
        if now is None or before is None:
            failures.append(f"{metric} cannot be compared with the baseline (missing)")
            continue
        worse = (now - before) if metric in LOWER_IS_BETTER else (before - now)
        if worse > allowed:
            direction = "rose" if metric in LOWER_IS_BETTER else "fell"
            failures.append(
                f"{metric} {direction} {worse:.3g} from the baseline's {before:.3g} "
                f"(allowed {allowed:g})"
            )
    return failures
