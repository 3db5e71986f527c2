"""In-process counters and gauges, cheap enough for every model call.

A `Metrics` object is a flat map of (name, labels) → number. The gateway counts
calls, errors, tokens, cost, cache results, fallbacks and circuit states here;
the HTTP service exposes them in Prometheus format. Labels never carry prompt
text, user ids or secrets — only configured names and error kinds.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._gauges: dict[tuple[str, Labels], float] = {}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges[(name, tuple(sorted(labels.items())))] = value

    def value(self, name: str, **labels: str) -> float:
        """A counter's or gauge's current value (0 when never touched)."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            return self._counters.get(key, self._gauges.get(key, 0.0))

    def total(self, name: str, **labels: str) -> float:
        """Sum of a counter over every label set that includes `labels`."""
        want = set(labels.items())
        with self._lock:
            return sum(v for (n, ls), v in self._counters.items() if n == name and want <= set(ls))

    def samples(self) -> list[Sample]:
        with self._lock:
            items = [*self._counters.items(), *self._gauges.items()]
        return [Sample(n, dict(ls), v) for (n, ls), v in sorted(items)]
