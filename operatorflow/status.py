"""The one run-status enum of the product and the mapping from each engine's own states."""

from __future__ import annotations

import enum
import logging

logger = logging.getLogger(__name__)


class RunStatus(str, enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELED = "CANCELED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return not self.is_terminal

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})
ACTIVE_STATUSES = frozenset(set(RunStatus) - TERMINAL_STATUSES)


def status_from_local_outcome(outcome: str) -> RunStatus:
    """Map the `status` field that a local runner process writes to its outcome file."""
    mapping = {
        "SUCCEEDED": RunStatus.SUCCEEDED,
        "FAILED": RunStatus.FAILED,
        "CANCELED": RunStatus.CANCELED,
    }
    try:
        return mapping[outcome]
    except KeyError:
        logger.warning("Unknown local runner outcome %r, treating the run as FAILED", outcome)
        return RunStatus.FAILED


def status_from_kfp_local(state: str) -> RunStatus:
    """Map a kfp local runner task state (kfp 2.17 `kfp.local` uses the pipeline-spec states)."""
    mapping = {
        "SUCCEEDED": RunStatus.SUCCEEDED,
        "FAILED": RunStatus.FAILED,
        "CANCELED": RunStatus.CANCELED,
        "CANCELLED": RunStatus.CANCELED,
        "RUNNING": RunStatus.RUNNING,
        "PENDING": RunStatus.RUNNING,
    }
    try:
        return mapping[state.upper()]
    except KeyError:
        logger.warning("Unknown kfp local state %r, treating the run as FAILED", state)
        return RunStatus.FAILED
