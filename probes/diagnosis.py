"""One line that says why a probe run went wrong, when it did.

A run on a machine without Internet (or behind a dead resolver, or with a test helper that
is down) fails the same way for every URL. Listing hundreds of identical failures helps
nobody; this module reads what the run stored and says it once, in words a volunteer can act
on. The line is printed by ``censorwatch probe run``, kept in ``probe_runs.error`` and, for a
scheduled run, in ``job_runs.error`` (the job is recorded as failed).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from censorwatch.errors import CensorwatchError
from censorwatch.probes import failures

#: Failures of the probe's own lookup that mean "the resolver did not answer" (not NXDOMAIN).
RESOLVER_FAILURES = (
    failures.TIMEOUT,
    failures.DNS_REFUSED,
    failures.DNS_SERVER_FAILURE,
    failures.CONNECTION_REFUSED,
    failures.NETWORK_UNREACHABLE,
    failures.HOST_UNREACHABLE,
)

OFFLINE = (
    "no DNS answers and no control: this machine seems to be offline; nothing is judged as blocking"
)


class ProbeRunFailed(CensorwatchError):
    """A probe run stored failures (or lost URLs): the scheduler records the job as failed."""

    exit_code = 3


@dataclass
class RunTally:
    """What the stored measurements of a run say about the resolver and the control."""

    stored: int = 0
    dns_failures: Counter[str] = field(default_factory=Counter)
    control_failures: Counter[str] = field(default_factory=Counter)
    controls_asked: int = 0

    def add(self, test_keys: dict[str, Any]) -> None:
        self.stored += 1
        dns = test_keys.get("dns_experiment_failure")
        if dns in RESOLVER_FAILURES:
            self.dns_failures[dns] += 1
        if test_keys.get("x_control_request") is not None:
            self.controls_asked += 1
            if test_keys.get("control_failure"):
                self.control_failures[str(test_keys["control_failure"])] += 1


def _top(counter: Counter[str]) -> str:
    return ", ".join(f"{k}" for k, _ in counter.most_common(2))


def diagnose(
    *,
    started: int,
    measured: int,
    failed: int,
    failure_kinds: dict[str, int],
    tally: RunTally,
    resolver: str,
    control_url: str,
) -> str | None:
    """The one-line reason a run failed, or None when nothing needs saying."""
    if started == 0:
        return None
    if failed and failed == started:
        kinds = {k: v for k, v in failure_kinds.items() if v}
        if set(kinds) == {"offline"}:
            return OFFLINE
        if set(kinds) == {"no_control"}:
            helper = f" (or the test helper {control_url} is down)" if control_url else ""
            return (
                "no control answered and no website could be reached: this machine seems to "
                f"be offline{helper}; nothing is judged as blocking"
            )
        if set(kinds) == {"error"}:
            return (
                f"every URL failed with an error ({failed} of {started}): see the log "
                "(--verbose); nothing is judged as blocking"
            )
        parts = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        return f"every URL failed ({parts}): nothing is judged as blocking"
    if tally.stored >= 3 and sum(tally.dns_failures.values()) == tally.stored:
        return (
            f"the resolver {resolver} answered none of the {tally.stored} lookups "
            f"({_top(tally.dns_failures)}): check --resolver; this run's DNS verdicts are "
            "not reliable"
        )
    if (
        control_url
        and tally.controls_asked >= 3
        and sum(tally.control_failures.values()) == tally.controls_asked
    ):
        return (
            f"the test helper {control_url} answered none of the {tally.controls_asked} "
            f"requests ({_top(tally.control_failures)}): check --control-url"
        )
    if failed:
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(failure_kinds.items()) if v)
        return f"{failed} of {started} URL(s) could not be judged ({kinds}); stored as failures"
    return None
