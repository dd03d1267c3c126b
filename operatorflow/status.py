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


# Databricks Jobs API 2.2 states, from databricks-sdk 0.167 `service/jobs.py`.
_DATABRICKS_ACTIVE_LIFE_CYCLES = frozenset(
    {"QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY", "WAITING"}
)
_DATABRICKS_FAILED_LIFE_CYCLES = frozenset({"SKIPPED", "INTERNAL_ERROR"})
_DATABRICKS_RESULTS = {
    "SUCCESS": RunStatus.SUCCEEDED,
    "SUCCESS_WITH_FAILURES": RunStatus.SUCCEEDED,
    "CANCELED": RunStatus.CANCELED,
    "CANCELLED": RunStatus.CANCELED,
    "FAILED": RunStatus.FAILED,
    "TIMEDOUT": RunStatus.FAILED,
    "MAXIMUM_CONCURRENT_RUNS_REACHED": RunStatus.FAILED,
    "EXCLUDED": RunStatus.FAILED,
    "UPSTREAM_FAILED": RunStatus.FAILED,
    "UPSTREAM_CANCELED": RunStatus.FAILED,
    "DISABLED": RunStatus.FAILED,
}
# Termination codes of the newer `status` object. `CANCELED` there means the platform stopped the
# run (a timeout, for example), so only `USER_CANCELED` is a cancellation.
_DATABRICKS_SUCCESS_CODES = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
_DATABRICKS_CANCEL_CODES = frozenset({"USER_CANCELED"})
_DATABRICKS_FAILURE_CODES = frozenset({
    "CANCELED", "SKIPPED", "INTERNAL_ERROR", "DRIVER_ERROR", "CLUSTER_ERROR", "REPOSITORY_CHECKOUT_FAILED",
    "INVALID_CLUSTER_REQUEST", "WORKSPACE_RUN_LIMIT_EXCEEDED", "FEATURE_DISABLED",
    "CLUSTER_REQUEST_LIMIT_EXCEEDED", "STORAGE_ACCESS_ERROR", "RUN_EXECUTION_ERROR", "UNAUTHORIZED_ERROR",
    "LIBRARY_INSTALLATION_ERROR", "MAX_CONCURRENT_RUNS_EXCEEDED", "MAX_SPARK_CONTEXTS_EXCEEDED",
    "RESOURCE_NOT_FOUND", "INVALID_RUN_CONFIGURATION", "CLOUD_FAILURE", "BUDGET_POLICY_LIMIT_EXCEEDED",
    "MAX_JOB_QUEUE_SIZE_EXCEEDED", "DISABLED", "BREAKING_CHANGE",
})
_warned_databricks_states: set[tuple[str | None, ...]] = set()


def status_from_databricks(life_cycle_state: str | None, result_state: str | None = None, *,
                           status_state: str | None = None, termination_code: str | None = None) -> RunStatus:
    """Map a Databricks run's state: the `status` object where present, else `life_cycle_state` and `result_state`.

    `TERMINATED` with result `FAILED` is FAILED here, although the SDK's own waiter returns normally
    for it. An unknown active state keeps the run RUNNING and an unknown result of a terminated run
    makes it FAILED; each unknown combination is logged once per process.
    """
    if status_state is not None:
        if status_state in _DATABRICKS_ACTIVE_LIFE_CYCLES:
            return RunStatus.RUNNING
        if status_state == "TERMINATED":
            if termination_code in _DATABRICKS_SUCCESS_CODES:
                return RunStatus.SUCCEEDED
            if termination_code in _DATABRICKS_CANCEL_CODES:
                return RunStatus.CANCELED
            if termination_code in _DATABRICKS_FAILURE_CODES:
                return RunStatus.FAILED
            if life_cycle_state is None:
                _warn_databricks_state_once("termination code", status_state, termination_code, "FAILED")
                return RunStatus.FAILED
        # An unknown state or code falls through, because the older fields may still contain a known state.

    if life_cycle_state in _DATABRICKS_ACTIVE_LIFE_CYCLES:
        return RunStatus.RUNNING
    if life_cycle_state in _DATABRICKS_FAILED_LIFE_CYCLES:
        return RunStatus.FAILED
    if life_cycle_state == "TERMINATED":
        mapped = _DATABRICKS_RESULTS.get(result_state or "")
        if mapped is None:
            _warn_databricks_state_once("result state", life_cycle_state, result_state, "FAILED")
            return RunStatus.FAILED
        return mapped

    _warn_databricks_state_once("state", status_state or life_cycle_state, result_state, "RUNNING")
    return RunStatus.RUNNING


def _warn_databricks_state_once(what: str, state: str | None, detail: str | None, treated_as: str) -> None:
    key = (what, state, detail)
    if key in _warned_databricks_states:
        return
    _warned_databricks_states.add(key)
    logger.warning("Unknown Databricks run %s %r (%r), treating the run as %s", what, state, detail, treated_as)


# Kubeflow Pipelines v2beta1 run states, from kfp-server-api 2.x `V2beta1RuntimeState`.
_KFP_STATES = {
    "RUNTIME_STATE_UNSPECIFIED": RunStatus.RUNNING,
    "PENDING": RunStatus.RUNNING,
    "RUNNING": RunStatus.RUNNING,
    "PAUSED": RunStatus.RUNNING,
    "CANCELING": RunStatus.CANCELLING,
    "SUCCEEDED": RunStatus.SUCCEEDED,
    # A skipped run produced no outputs, so a caller that waits for them must not see success.
    "SKIPPED": RunStatus.FAILED,
    "FAILED": RunStatus.FAILED,
    "CANCELED": RunStatus.CANCELED,
}
_warned_kfp_states: set[str | None] = set()


def status_from_kubeflow(state: str | None) -> RunStatus:
    """Map a Kubeflow Pipelines run's `state`; an unknown state keeps the run RUNNING and is logged once per process.

    A missing state (an older server, or a run the server has only just accepted) counts as
    RUNTIME_STATE_UNSPECIFIED, which is still active.
    """
    mapped = _KFP_STATES.get(state or "RUNTIME_STATE_UNSPECIFIED")
    if mapped is not None:
        return mapped
    if state not in _warned_kfp_states:
        _warned_kfp_states.add(state)
        logger.warning("Unknown Kubeflow Pipelines run state %r, treating the run as RUNNING", state)
    return RunStatus.RUNNING
