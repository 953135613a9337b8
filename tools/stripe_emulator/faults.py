"""Injected latency, rate limits, server errors and timeouts, plus a count of API calls.

Set per run with CLI flags (``--latency-ms``, ``--rate-429``, ``--rate-5xx``) or through
``POST /_emulator/faults`` (JSON, any subset of the fields of ``Faults``); read the calls with
``GET /_emulator/requests``. Rates are probabilities per call (a seeded generator); the
``next_*`` counters fail exactly that many calls, and ``outage`` fails every call with 503
until it is switched off. ``paths`` limits everything but latency to calls whose path starts
with one of its prefixes (all ``/v1/`` calls by default).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import StripeError, invalid

# What happens to one call, decided as it arrives.
PASS, REJECT_429, REJECT_5XX, OUTAGE, LOSE_ANSWER, HANG = (
    "pass", "429", "5xx", "outage", "lose", "hang")


@dataclass
class Faults:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    next_429: int = 0
    next_5xx: int = 0
    # the call is carried out, then answered 500 (the client cannot know it got through)
    next_lost_answer: int = 0
    # the call is carried out, then answered only after hang_seconds (a client timeout)
    next_hang: int = 0
    hang_seconds: float = 30.0
    outage: bool = False
    paths: list[str] = field(default_factory=lambda: ["/v1/"])
    seed: int = 0


_FLOATS = ("latency_ms", "jitter_ms", "rate_429", "rate_5xx", "hang_seconds")
_INTS = ("next_429", "next_5xx", "next_lost_answer", "next_hang", "seed")


class FaultInjector:
    """Thread-safe holder of the current ``Faults`` and the per-endpoint call counts."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.lock = threading.Lock()
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    def configure(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            f = self.faults
            for name, value in params.items():
                if name in _FLOATS:
                    number = _number(name, value, float)
                    if name.startswith("rate_") and not 0 <= number <= 1:
                        raise invalid(f"{name} must be between 0 and 1.", param=name)
                    setattr(f, name, number)
                elif name in _INTS:
                    setattr(f, name, int(_number(name, value, int)))
                elif name == "outage":
                    f.outage = value in (True, "true", "1", 1)
                elif name == "paths":
                    f.paths = [str(p) for p in (value if isinstance(value, list) else [value])]
                elif name == "reset":
                    self.faults = f = Faults()
                else:
                    raise invalid(f"Unknown fault setting: {name}", param=name)
            if "seed" in params:
                self.random = random.Random(f.seed)
            return asdict(f)

    def latency(self) -> float:
        """Seconds to wait before answering this call."""
        f = self.faults
        if f.latency_ms <= 0 and f.jitter_ms <= 0:
            return 0.0
        with self.lock:
            jitter = self.random.uniform(0, f.jitter_ms) if f.jitter_ms > 0 else 0.0
        return max(0.0, f.latency_ms + jitter) / 1000

    def decide(self, endpoint: str, path: str) -> str:
        """Count the call and choose its fate."""
        with self.lock:
            self.calls[endpoint] += 1
            f = self.faults
            if not any(path.startswith(p) for p in f.paths):
                return PASS
            fate = PASS
            if f.outage:
                fate = OUTAGE
            elif f.next_429 > 0:
                f.next_429 -= 1
                fate = REJECT_429
            elif f.next_5xx > 0:
                f.next_5xx -= 1
                fate = REJECT_5XX
            elif f.next_lost_answer > 0:
                f.next_lost_answer -= 1
                fate = LOSE_ANSWER
            elif f.next_hang > 0:
                f.next_hang -= 1
                fate = HANG
            elif f.rate_429 and self.random.random() < f.rate_429:
                fate = REJECT_429
            elif f.rate_5xx and self.random.random() < f.rate_5xx:
                fate = REJECT_5XX
            if fate != PASS:
                self.injected[f"{fate} {endpoint}"] += 1
            return fate

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {"calls": dict(self.calls), "injected": dict(self.injected),
                    "total": sum(self.calls.values())}

    def clear_counts(self) -> None:
        with self.lock:
            self.calls.clear()
            self.injected.clear()


def _number(name: str, value: Any, kind: type) -> float:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise invalid(f"{name} must be a number.", param=name) from None


def rate_limited() -> StripeError:
    return StripeError("Request rate limit exceeded. You can learn more about rate limits "
                       "here https://stripe.com/docs/rate-limits.", status=429,
                       type="invalid_request_error", code="rate_limit",
                       headers={"Stripe-Should-Retry": "true"})


def server_error(status: int = 500) -> StripeError:
    return StripeError("An unknown error occurred", status=status, type="api_error",
                       headers={"Stripe-Should-Retry": "true"})
