"""Access rules: grants of runs and workflows to other users, and the one policy that checks every action.

The model, as `AccessPolicy.can` applies it:

- Every signed-in user who is not disabled may list, view and start every catalog workflow. Each
  new run, also a re-run of someone else's run, is owned by the user who started it.
- The owner of a run or a schedule may do everything with it. An administrator (`users.is_admin`)
  may do everything with every object.
- A grant of a run from its owner O to a user U with permission `view` lets U list and view the
  run and read its log, result and outputs. When the run trained a model, U may use that model.
  Permission `run` adds the right to re-run it: U starts the same workflow with O's parameters
  and owns the new run.
- A grant of a workflow W from O to U does the same for every run of W that O owns, past and
  future, but not for other users' runs of W.
- Only the owner and administrators may cancel a run, change a schedule, or grant and revoke
  access. A grantee with `run` cannot cancel O's run, because a shared run is O's work and cost.
- Schedules are never shared: only their owner and administrators see them.
- A disabled user may do nothing, not even list.

A denied action and an action on an object that does not exist raise the same PermissionDenied
message, so a user cannot probe which run ids exist.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import uuid
from typing import Protocol

import sqlalchemy as sa

from operatorflow.errors import InvalidInput, NotFound, PermissionDenied
from operatorflow.registry import Run, RunRegistry
from operatorflow.registry.schema import grants, runs, users

logger = logging.getLogger(__name__)


class Action(str, enum.Enum):
    LIST = "list"
    VIEW = "view"
    LOGS = "logs"
    OUTPUTS = "outputs"
    RUN = "run"
    CANCEL = "cancel"
    GRANT = "grant"
    CHANGE = "change"
    """Pause, resume or delete a schedule."""


class ObjectType(str, enum.Enum):
    RUN = "run"
    WORKFLOW = "workflow"
    MODEL = "model"
    SCHEDULE = "schedule"


class Permission(str, enum.Enum):
    VIEW = "view"
    RUN = "run"


GRANTABLE_TYPES = (ObjectType.RUN, ObjectType.WORKFLOW)
_VIEW_ACTIONS = frozenset({Action.LIST, Action.VIEW, Action.LOGS, Action.OUTPUTS})


@dataclasses.dataclass(frozen=True)
class Resource:
    """The object of an action: its type, id, owner (None for catalog workflows) and workflow."""

    type: ObjectType
    id: str
    owner: str | None = None
    workflow: str | None = None

    @classmethod
    def of_run(cls, run: Run, object_type: ObjectType = ObjectType.RUN) -> Resource:
        return cls(object_type, run.id, run.owner, run.workflow)

    @classmethod
    def of_workflow(cls, name: str) -> Resource:
        return cls(ObjectType.WORKFLOW, name)


@dataclasses.dataclass(frozen=True)
class Grant:
    id: str
    object_type: str
    object_id: str
    owner: str
    grantee: str
    permission: str
    granted_by: str
    created_at: dt.datetime

    def to_dict(self) -> dict[str, str]:
        data = dataclasses.asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclasses.dataclass(frozen=True)
class UserFlags:
    name: str
    is_admin: bool
    disabled: bool


class UserDirectory(Protocol):
    """Looks up users' roles; the accounts module's user store can take this role."""

    def get_user_flags(self, name: str) -> UserFlags | None:
        """Return the user's flags, or None when the `users` table has no such user."""


class SqlUserDirectory:
    """Reads administrator and disabled flags from the `users` table of the registry database."""

    def __init__(self, registry: RunRegistry) -> None:
        self._registry = registry

    def get_user_flags(self, name: str) -> UserFlags | None:
        query = sa.select(users.c.name, users.c.is_admin, users.c.disabled).where(users.c.name == name)
        with self._registry.begin() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return UserFlags(row.name, bool(row.is_admin), bool(row.disabled))


class GrantStore:
    """Grants in the registry's database, one row per (object, owner, grantee)."""

    def __init__(self, registry: RunRegistry) -> None:
        self._registry = registry
        self._clock = registry.clock

    def grant(self, *, object_type: ObjectType, object_id: str, owner: str, grantee: str,
              permission: Permission, granted_by: str) -> Grant:
        """Store the grant, or change the permission of an existing grant to the same grantee."""
        key = _grant_key(object_type, object_id, owner, grantee)
        now = self._clock.now()
        with self._registry.begin() as conn:
            updated = conn.execute(
                grants.update().where(*key).values(permission=permission.value, granted_by=granted_by)
            ).rowcount
            if not updated:
                conn.execute(grants.insert().values(
                    id=uuid.uuid4().hex[:12], object_type=object_type.value, object_id=object_id, owner=owner,
                    grantee=grantee, permission=permission.value, granted_by=granted_by, created_at=now,
                ))
            row = conn.execute(grants.select().where(*key)).mappings().one()
        return Grant(**row)

    def revoke(self, *, object_type: ObjectType, object_id: str, owner: str, grantee: str) -> bool:
        """Delete the grant; return False when there was none."""
        with self._registry.begin() as conn:
            deleted = conn.execute(grants.delete().where(*_grant_key(object_type, object_id, owner, grantee))).rowcount
        return deleted == 1

    def list_for_object(self, object_type: ObjectType, object_id: str, owner: str | None = None) -> list[Grant]:
        where = [grants.c.object_type == object_type.value, grants.c.object_id == object_id]
        if owner is not None:
            where.append(grants.c.owner == owner)
        return self._select(where)

    def list_for_grantee(self, grantee: str) -> list[Grant]:
        return self._select([grants.c.grantee == grantee])

    def list_for_owner(self, owner: str) -> list[Grant]:
        return self._select([grants.c.owner == owner])

    def list_all(self) -> list[Grant]:
        return self._select([])

    def find_permission(self, grantee: str, run_id: str, run_owner: str, workflow: str) -> Permission | None:
        """Return the strongest permission that a run grant or a workflow grant gives `grantee` on the run."""
        query = sa.select(grants.c.permission).where(
            grants.c.grantee == grantee,
            grants.c.owner == run_owner,
            sa.or_(
                sa.and_(grants.c.object_type == ObjectType.RUN.value, grants.c.object_id == run_id),
                sa.and_(grants.c.object_type == ObjectType.WORKFLOW.value, grants.c.object_id == workflow),
            ),
        )
        with self._registry.begin() as conn:
            found = {row.permission for row in conn.execute(query)}
        if Permission.RUN.value in found:
            return Permission.RUN
        if Permission.VIEW.value in found:
            return Permission.VIEW
        return None

    def _select(self, where: list) -> list[Grant]:
        query = grants.select().where(*where).order_by(grants.c.created_at, grants.c.id)
        with self._registry.begin() as conn:
            return [Grant(**row) for row in conn.execute(query).mappings()]


def _grant_key(object_type: ObjectType, object_id: str, owner: str, grantee: str) -> list:
    return [grants.c.object_type == object_type.value, grants.c.object_id == object_id,
            grants.c.owner == owner, grants.c.grantee == grantee]


class AccessPolicy:
    """Decides every action of every user; the service calls `check` before it acts or returns data."""

    def __init__(self, grants: GrantStore, users: UserDirectory) -> None:
        self.grants = grants
        self.users = users

    def can(self, user: str, action: Action, resource: Resource) -> bool:
        """Return whether `user` may do `action` on `resource`, following the module's model."""
        flags = self.users.get_user_flags(user)
        if flags is not None and flags.disabled:
            return False
        if flags is not None and flags.is_admin:
            return True
        if resource.type is ObjectType.WORKFLOW and resource.owner is None:
            # A catalog workflow: public to signed-in users, but only its owner shares runs of it.
            return action in _VIEW_ACTIONS or action is Action.RUN
        if resource.owner == user:
            return True
        if resource.type is ObjectType.SCHEDULE or action in (Action.CANCEL, Action.GRANT, Action.CHANGE):
            return False

        permission = self.grants.find_permission(user, resource.id, resource.owner or "", resource.workflow or "")
        if permission is None:
            return False
        if action in _VIEW_ACTIONS:
            return True
        return action is Action.RUN and permission is Permission.RUN

    def check(self, user: str, action: Action, resource: Resource) -> None:
        """Raise PermissionDenied unless `user` may do `action` on `resource`; a disabled user gets a message that names the disabled account."""
        self.check_enabled(user, action, resource.type)
        if not self.can(user, action, resource):
            raise self.denied(user, action, resource.type, resource.id)

    def check_enabled(self, user: str, action: Action, object_type: ObjectType) -> None:
        """Raise PermissionDenied when the user is disabled; used before listing, where no single object is checked."""
        if self.is_disabled(user):
            logger.warning("access denied %s %s %s: the account is disabled", user, action.value, object_type.value)
            raise PermissionDenied(
                f"User {user!r} is disabled, so it is not permitted to {action.value} {object_type.value}s; "
                "ask an administrator to enable the account."
            )

    def is_disabled(self, user: str) -> bool:
        flags = self.users.get_user_flags(user)
        return flags is not None and flags.disabled

    def is_admin(self, user: str) -> bool:
        flags = self.users.get_user_flags(user)
        return flags is not None and flags.is_admin and not flags.disabled

    def visible_runs_clause(self, user: str) -> sa.ColumnElement[bool] | None:
        """Return a WHERE clause on `runs` that keeps the runs `user` may list, or None for all runs (administrators)."""
        if self.is_admin(user):
            return None
        run_grant = sa.exists().where(
            grants.c.grantee == user, grants.c.owner == runs.c.owner,
            grants.c.object_type == ObjectType.RUN.value, grants.c.object_id == runs.c.id,
        )
        workflow_grant = sa.exists().where(
            grants.c.grantee == user, grants.c.owner == runs.c.owner,
            grants.c.object_type == ObjectType.WORKFLOW.value, grants.c.object_id == runs.c.workflow,
        )
        return sa.or_(runs.c.owner == user, run_grant, workflow_grant)

    def check_grantee(self, grantee: str) -> None:
        """Raise InvalidInput unless `grantee` is a user of the `users` table."""
        if self.users.get_user_flags(grantee) is None:
            raise InvalidInput(
                f"No user {grantee!r}: access can be granted only to an existing account. "
                "Check the spelling; a new user must sign in once before anything can be shared with them."
            )

    @staticmethod
    def denied(user: str, action: Action, object_type: ObjectType, object_id: str) -> PermissionDenied:
        """Log and return the one error for a denied or missing object, which does not tell the two apart."""
        logger.warning("access denied %s %s %s %s", user, action.value, object_type.value, object_id)
        return PermissionDenied(
            f"You are not permitted to {action.value} {object_type.value} {object_id!r}, or it does not exist. "
            f"Check the id with `operatorflow {_LIST_COMMANDS[object_type]}`, or ask its owner to share it with you."
        )


_LIST_COMMANDS = {
    ObjectType.RUN: "runs list",
    ObjectType.MODEL: "models list",
    ObjectType.WORKFLOW: "workflows list",
    ObjectType.SCHEDULE: "schedules list",
}


def parse_object_type(value: str) -> ObjectType:
    """Return the grantable object type named `value`; raise InvalidInput for any other."""
    try:
        object_type = ObjectType(value.strip().lower())
    except ValueError:
        object_type = None
    if object_type not in GRANTABLE_TYPES:
        raise InvalidInput(f"Invalid object type {value!r}: access can be granted on a 'run' or a 'workflow'.")
    return object_type


def parse_permission(value: str) -> Permission:
    try:
        return Permission(value.strip().lower())
    except ValueError as exc:
        raise InvalidInput(
            f"Invalid permission {value!r}: use 'view' (see runs, logs and outputs) or 'run' (view and re-run)."
        ) from exc


def missing_grant(object_type: ObjectType, object_id: str, owner: str, grantee: str) -> NotFound:
    return NotFound(
        f"No grant of {object_type.value} {object_id!r} of {owner} to {grantee}: "
        "see the existing grants with `operatorflow grants list`."
    )
