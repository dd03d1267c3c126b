"""Exceptions raised by OperatorFlow.

    OperatorFlowError
    ├── NotFound            a run, workflow, model or object does not exist (or is not yours)
    ├── PermissionDenied    the user may not act on an object that exists
    ├── InvalidInput        a parameter, location, file or setting is malformed
    ├── BackendUnavailable  an engine, database or object store cannot be reached
    ├── RunFailed           a run ended FAILED while a caller waited for it
    └── OperationTimedOut   a wait passed its deadline

Every message says what failed, for which id or value, and what to do next. Pages and the command
line catch OperatorFlowError and show its message; anything else is a bug and is logged with its
traceback.
"""

from __future__ import annotations


class OperatorFlowError(Exception):
    """Root of every error that OperatorFlow raises on purpose."""


class NotFound(OperatorFlowError):
    """Raised when a run, workflow, model or stored object does not exist for this user."""


class PermissionDenied(OperatorFlowError):
    """Raised when the user is not permitted to act on an object."""


class InvalidInput(OperatorFlowError):
    """Raised when a parameter, location, uploaded file or setting is malformed."""


class BackendUnavailable(OperatorFlowError):
    """Raised when an engine, the registry database or an object store cannot be reached."""


class RunFailed(OperatorFlowError):
    """Raised by waiting helpers when the run they follow ends FAILED or CANCELED."""

    def __init__(self, run_id: str, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class OperationTimedOut(OperatorFlowError):
    """Raised when a wait passes its deadline before the run or operation finishes."""
