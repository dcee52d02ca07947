"""A/B serving: a fixed share of traffic answered by a second model, each request logged with its arm.

Unlike a canary (a share that is meant to grow, drawn at random), an A/B test is an experiment
whose arms must be stable and reproducible so that outcomes can be compared later
(`workbench monitor` joins the outcomes and tests the difference, monitor/outcomes.py). The arm of
a request is therefore a pure function of a key: the `X-Workbench-Route-Key` header when the client
sends one (a user or session id: one user always sees the same arm, and the unit of randomisation
is the user), else the request id the server assigns. The key is hashed with SHA-256; its first
8 bytes as a fraction of 2**64 below `percent`/100 means arm B.
"""

from __future__ import annotations

import hashlib

from workbench.core.errors import WorkbenchError

__all__ = ["ARM_A", "ARM_B", "ABRouter", "parse_ab"]

ARM_A, ARM_B = "A", "B"


def parse_ab(text: str) -> tuple[str, float]:
    """`MODEL:PERCENT` (`churn/3:50`, `churn@challenger:20`) as (model, percent of traffic to arm B)."""
    from workbench.deploy.serving.rollout import split_share

    model, value = split_share(text)
    if value is None or not 0 < value < 100:
        raise WorkbenchError(f"--ab {text}: expected MODEL:PERCENT with 0 < PERCENT < 100",
                             hint="e.g. --ab churn/3:50 lets churn/3 answer half of the requests (arm B)")
    return model, value


class ABRouter:
    """Arm B for `percent` % of keys, deterministically (see the module doc)."""

    def __init__(self, percent: float) -> None:
        if not 0 < percent < 100:
            raise ValueError(f"A/B share {percent} is not between 0 and 100")
        self.percent = percent

    def arm(self, request_id: str, route_key: str | None = None) -> str:
        digest = hashlib.sha256((route_key or request_id).encode("utf-8")).digest()
        return ARM_B if int.from_bytes(digest[:8], "big") / 2**64 * 100 < self.percent else ARM_A
