"""Streamlit helpers shared by the router and the pages: the cached service, the signed-in user, errors and run views."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any, Callable

import pandas as pd
import plotly.express as px
import streamlit as st

from operatorflow import accounts
from operatorflow.errors import OperatorFlowError
from operatorflow.registry import Run
from operatorflow.serve import configure_logging  # noqa: F401 - the router calls ui.configure_logging()
from operatorflow.service import OperatorFlow
from operatorflow.settings import load_settings
from operatorflow.status import RunStatus
from operatorflow.ui_training import render_training_curve
from operatorflow.workflows import Parameter, WorkflowKind

logger = logging.getLogger(__name__)

_MAX_LABEL_LENGTH = 40
LIVE_REFRESH_SECONDS = 2.0
"""Seconds between two refreshes of an active run's details."""

STATUS_COLORS = {
    RunStatus.QUEUED.value: "gray",
    RunStatus.RUNNING.value: "blue",
    RunStatus.CANCELLING.value: "orange",
    RunStatus.SUCCEEDED.value: "green",
    RunStatus.FAILED.value: "red",
    RunStatus.CANCELED.value: "violet",
    "AVAILABLE": "green",
}
"""Badge colour per run status and per workflow status (AVAILABLE or RUNNING)."""

# Plotly colours matching STATUS_COLORS, so charts and badges agree.
STATUS_CHART_COLORS = {
    RunStatus.QUEUED.value: "#9ca3af",
    RunStatus.RUNNING.value: "#3b82f6",
    RunStatus.CANCELLING.value: "#f59e0b",
    RunStatus.SUCCEEDED.value: "#22c55e",
    RunStatus.FAILED.value: "#ef4444",
    RunStatus.CANCELED.value: "#8b5cf6",
}

# Session-state keys of the router.
_USER_KEY = "router_user"
_TOKEN_KEY = "router_session_token"
_SIGN_OUT_KEY = "router_sign_out_requested"
_COOKIE_COMPONENT_KEY = "router_cookies"


@st.cache_resource(show_spinner=False)
def get_service() -> OperatorFlow:
    """Return the process-wide service, with the worker thread started when OPERATORFLOW_WORKER=thread.

    Every session shares the service, so it keeps no user's session or token. Each call names
    the acting user.
    """
    from operatorflow.factory import build_service

    settings = load_settings()
    service = build_service(settings)
    if settings.worker == "thread":
        from operatorflow.worker import start_background_worker

        start_background_worker(service)
    return service


# Accounts and the signed-in user


@st.cache_resource(show_spinner=False)
def get_accounts() -> accounts.AccountService:
    """Return the process-wide account service on the registry's database."""
    service = get_service()
    return accounts.build_accounts(service.settings, service.registry, service.clock)


def authenticate_session() -> None:
    """Find this run's user from the session token, after applying a requested sign-out.

    The token comes from this browser tab's session state, else from the cookie the browser sent
    when it opened the page (`st.context.cookies`), so a reload and a second tab stay signed in.
    Every run checks the token's row again, so a session ended elsewhere, an expired one and a
    disabled user sign out at the next run. Call once per run, before `st.navigation`, because the
    page list depends on the outcome.
    """
    account_service = get_accounts()
    cookies = _cookie_manager()

    if st.session_state.pop(_SIGN_OUT_KEY, False):
        _sign_out(account_service, cookies)
        return

    token = st.session_state.get(_TOKEN_KEY) or _request_cookie()
    user = account_service.sessions.get_user(token) if token else None
    if user is None:
        previous = st.session_state.get(_USER_KEY)
        if previous is not None:
            logger.info("accounts %s signed out: the session ended, expired or the user was disabled", previous)
            _clear_session_state()
        return

    if st.session_state.get(_USER_KEY) != user:
        logger.info("accounts %s signed in from the browser's session cookie", user)
    st.session_state[_USER_KEY] = user
    st.session_state[_TOKEN_KEY] = token

    # A run can be cut short by the next one (a click, or the cookie component reporting), so the
    # cookie is set again in each run until the browser sends it back.
    if (cookies.cookies or {}).get(accounts.COOKIE_NAME) != token and _request_cookie() != token:
        _set_cookie(cookies, account_service, token)


def sign_in_as(user_name: str) -> None:
    """Start a session of `user_name` in this tab; the router sets the browser's session cookie.

    The caller has proved who the user is (password, Cognito, a load balancer). Call it from a
    widget callback, which Streamlit runs before the script, so the router shows the signed-in
    pages in the same run and a rerun requested meanwhile cannot lose the sign-in. From the script
    body, call `st.rerun()` after it. Raises PermissionDenied for a disabled account.
    """
    account_service = get_accounts()
    token = account_service.sessions.start(user_name)
    if current_user() != user_name:
        # Nothing that a previous user left in this tab may show to the next one.
        _clear_session_state()
    st.session_state[_USER_KEY] = user_name
    st.session_state[_TOKEN_KEY] = token
    logger.info("accounts %s signed in", user_name)


def current_user() -> str | None:
    """Return the signed-in username of this session, or None."""
    user = st.session_state.get(_USER_KEY)
    return str(user) if user else None


def require_user() -> str:
    """Return the signed-in user, or show a notice and stop the page when there is none."""
    user = current_user()
    if user is None:
        st.warning("Sign in to use this page.")
        st.stop()
    return user


def request_sign_out() -> None:
    """Button callback: the router signs the user out at the start of the next run."""
    st.session_state[_SIGN_OUT_KEY] = True


def _sign_out(account_service: accounts.AccountService, cookies) -> None:
    user = current_user()
    _clear_session_state()
    _delete_cookie(cookies)
    if user is None:
        return
    # Ends the sessions of every tab and browser, so the cookie that this tab's request headers
    # still carry, and any copy of it, no longer signs anyone in.
    account_service.sessions.end_all(user)
    logger.info("accounts %s signed out", user)


def _request_cookie() -> str | None:
    """Return the session cookie that the browser sent when it opened this page, if any."""
    cookie = st.context.cookies.get(accounts.COOKIE_NAME)
    # Outside a browser (AppTest) the cookies are not a real mapping of strings.
    return cookie if isinstance(cookie, str) and cookie else None


def _clear_session_state() -> None:
    for key in list(st.session_state.keys()):
        if key != _COOKIE_COMPONENT_KEY:
            del st.session_state[key]


def _cookie_manager():
    """Draw the cookie component of extra-streamlit-components, which streamlit-authenticator also uses.

    NOTE: the component sets the cookie from the browser's JavaScript, so it cannot be HttpOnly
    and page scripts can read it.
    """
    import extra_streamlit_components as stx

    return stx.CookieManager(key=_COOKIE_COMPONENT_KEY)


def _set_cookie(cookies, account_service: accounts.AccountService, token: str) -> None:
    # Timezone-aware, so the ISO text that the component passes to the browser names its zone.
    expires = dt.datetime.now(dt.timezone.utc) + account_service.sessions.lifetime
    cookies.set(accounts.COOKIE_NAME, token, key=f"{_COOKIE_COMPONENT_KEY}_set", expires_at=expires,
                secure=True, same_site="strict")


def _delete_cookie(cookies) -> None:
    if accounts.COOKIE_NAME in (cookies.cookies or {}) or _request_cookie():
        try:
            cookies.delete(accounts.COOKIE_NAME, key=f"{_COOKIE_COMPONENT_KEY}_delete")
        except KeyError:
            # The component had not read the browser's cookies yet; the ended session makes the cookie useless.
            pass


# Errors


def show_error(exc: BaseException) -> None:
    """Show an OperatorFlowError's message; log anything else with its traceback as an unexpected failure."""
    if isinstance(exc, OperatorFlowError):
        st.error(str(exc))
        return
    logger.error("Unexpected failure in the app", exc_info=exc)
    st.error(f"Unexpected failure: {type(exc).__name__}: {exc}. The details are in the app log.")


# Formatting


def format_time(value: dt.datetime | None) -> str:
    """Format a timestamp in the browser's time zone (UTC when the browser does not report one)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    zone = _display_zone()
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S ") + (value.astimezone(zone).tzname() or "")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _display_zone() -> dt.tzinfo:
    name = st.context.timezone
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            logger.warning("Unknown browser time zone %r, showing times in UTC", name)
    return dt.timezone.utc


def status_badge(status: str) -> None:
    """Draw a coloured badge for a run status or a workflow status."""
    st.badge(status, color=STATUS_COLORS.get(status, "gray"))  # type: ignore[arg-type]


def run_label(run: Run, user: str | None = None) -> str:
    """Label of a run in a select box: id, creation time, and the owner of a run that `user` does not own.

    It leaves out the status on purpose: Streamlit 1.67's browser side keeps showing the old label
    of the selected option when only that label changes, so a status there would go stale.
    """
    label = f"{run.id} · created {format_time(run.created_at)}"
    if user is not None and run.owner != user:
        label += f" · shared by {run.owner}"
    return label


_MAX_TABLE_ERROR_CHARS = 200


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """Return one table row per run, for st.dataframe and charts."""
    rows = [
        {
            "run": run.id,
            "workflow": run.workflow,
            "status": run.status.value,
            "created": format_time(run.created_at),
            "started": format_time(run.started_at),
            "finished": format_time(run.finished_at),
            "duration (s)": None if run.duration_seconds is None else round(run.duration_seconds, 1),
            "error": (run.error_message or "")[:_MAX_TABLE_ERROR_CHARS],
            "owner": run.owner,
        }
        for run in runs
    ]
    columns = ["run", "workflow", "status", "created", "started", "finished", "duration (s)", "error", "owner"]
    return pd.DataFrame(rows, columns=columns)


# Inputs


def parameter_input(parameter: Parameter, key: str, label: str | None = None) -> str:
    """Draw an input for one workflow parameter, prefilled with its default; return the value as text."""
    description = parameter.label or parameter.name
    if label is None:
        # Catalog labels are sometimes whole sentences: those become the help text.
        label = description if len(description) <= _MAX_LABEL_LENGTH else parameter.name
    help_text = description if description != label else None
    if parameter.choices:
        choices = list(parameter.choices)
        index = choices.index(parameter.default) if parameter.default in choices else 0
        return str(st.selectbox(label, choices, index=index, help=help_text, key=key))
    return st.text_input(label, value=parameter.default, help=help_text, key=key)


# Run details


ResultRenderer = Callable[[OperatorFlow, str, Run], None]


def show_live_run(service: OperatorFlow, user: str, run_id: str, key_prefix: str,
                  render_result: ResultRenderer | None = None) -> None:
    """Draw a run's details; while the run is active they refresh every LIVE_REFRESH_SECONDS.

    Once a refresh finds the run ended, the whole page reruns, so its other parts (catalog status,
    run list) catch up and the refreshing stops.
    """
    first = service.get_run(user, run_id)
    started_active = first.status.is_active

    @st.fragment(run_every=LIVE_REFRESH_SECONDS if started_active else None)
    def _details() -> None:
        try:
            run = service.get_run(user, run_id)
        except OperatorFlowError as exc:
            show_error(exc)
            return
        if started_active and run.status.is_terminal:
            st.rerun()
        can_cancel = run.status.is_active and service.can(user, "cancel", run)
        if can_cancel and st.button("Cancel run", key=f"{key_prefix}_cancel_{run.id}"):
            try:
                service.cancel_run(user, run.id)
            except OperatorFlowError as exc:
                show_error(exc)
            else:
                st.rerun()
        render_run_details(service, user, run, render_result)

    _details()


def render_run_details(service: OperatorFlow, user: str, run: Run,
                       render_result: ResultRenderer | None = None) -> None:
    """Draw status, times, parameters, output location, error, result and log of one run."""
    from operatorflow.ui_access import render_run_sharing

    title, badge = st.columns([4, 1], vertical_alignment="center")
    title.subheader(f"Run {run.id}")
    with badge:
        status_badge(run.status.value)
    if run.owner != user:
        st.caption(f"Run of {run.owner}, shared with you or shown to you as an administrator.")

    created, started, finished, duration = st.columns(4)
    created.caption(f"Created  \n{format_time(run.created_at)}")
    started.caption(f"Started  \n{format_time(run.started_at)}")
    finished.caption(f"Finished  \n{format_time(run.finished_at)}")
    duration.caption(f"Duration  \n{format_duration(run.duration_seconds)}")

    st.markdown("**Parameters**")
    parameters = pd.DataFrame(sorted(run.parameters.items()), columns=["parameter", "value"])
    st.dataframe(parameters, hide_index=True, width="stretch")
    st.markdown("**Output location**")
    st.code(run.output_location, language=None)

    if run.status is RunStatus.FAILED:
        st.error(f"Run {run.id} failed: {run.error_message or 'no error message was recorded.'}")
    elif run.status is RunStatus.CANCELED:
        st.warning(f"Run {run.id} was canceled. {run.error_message or ''}".strip())
    elif run.status.is_active:
        st.info(f"Run {run.id} is {run.status.value}; this view refreshes by itself.")
        pending = describe_pending(run, dt.datetime.now(dt.timezone.utc))
        if pending:
            st.info(pending, icon=":material/hourglass_top:")

    if run.status is RunStatus.SUCCEEDED:
        try:
            (render_result or render_generic_result)(service, user, run)
        except OperatorFlowError as exc:
            show_error(exc)

    with st.expander("Log"):
        try:
            log = service.read_run_log(user, run.id)
        except OperatorFlowError as exc:
            show_error(exc)
        else:
            st.code(log or "The run has no log yet.", language=None)

    render_run_sharing(service, user, run)


def describe_pending(run: Run, now: dt.datetime) -> str | None:
    """Say how long a remote engine has kept an active run pending, from the `pending_since` the worker stored."""
    since_text = (run.metrics or {}).get("pending_since")
    if not since_text or not run.status.is_active:
        return None
    try:
        since = dt.datetime.fromisoformat(str(since_text))
    except ValueError:
        logger.warning("Run %s has an unreadable pending_since %r", run.id, since_text)
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    waited = max(0.0, (now - since).total_seconds())
    return (f"Run {run.id} has been pending on {run.engine} for {format_duration(waited)}: the server is waiting "
            "for resources (a node, a free slot or an image pull) before its first step starts.")


def render_generic_result(service: OperatorFlow, user: str, run: Run) -> None:
    result = service.get_run_result(user, run.id)
    if result is None:
        st.caption("The run returned no result.")
    elif isinstance(result, (dict, list)):
        st.json(result)
    else:
        st.code(str(result), language=None)


def render_notebook_result(service: OperatorFlow, user: str, run: Run) -> None:
    """Draw a word-count result (`top_words`) as a table and a bar chart; other results as JSON."""
    result = service.get_run_result(user, run.id)
    if not isinstance(result, dict) or not isinstance(result.get("top_words"), list):
        render_generic_result(service, user, run)
        return

    total, distinct = st.columns(2)
    total.metric("Total words", f"{result.get('total_words', 0):,}")
    distinct.metric("Distinct words", f"{result.get('distinct_words', 0):,}")
    words = pd.DataFrame(result["top_words"], columns=["word", "count"])
    table, chart = st.columns([1, 2])
    table.dataframe(words, hide_index=True, width="stretch")
    figure = px.bar(words, x="word", y="count", title=f"Top {len(words)} words")
    chart.plotly_chart(figure, key=f"word_count_chart_{run.id}")


def render_pipeline_result(service: OperatorFlow, user: str, run: Run) -> None:
    """Draw a training run's metrics and the objects it wrote (model, metrics) with their locations."""
    metrics = run.metrics or {}
    headline = [("accuracy", "Accuracy"), ("auc", "AUC"), ("rows_used", "Rows used")]
    columns = st.columns(len(headline))
    for column, (name, label) in zip(columns, headline):
        value = metrics.get(name)
        column.metric(label, _format_metric(value))
    others = {k: v for k, v in metrics.items() if k not in dict(headline)}
    if others:
        frame = pd.DataFrame([(k, _format_metric(v)) for k, v in sorted(others.items())], columns=["metric", "value"])
        st.dataframe(frame, hide_index=True, width="stretch")

    objects = service.list_output_objects(user, run.id)
    render_training_curve(service, user, run, objects)

    st.markdown("**Output objects**")
    if not objects:
        st.caption(f"No objects under {run.output_location}.")
        return
    base = run.output_location.rstrip("/") + "/"
    frame = pd.DataFrame(
        [(location.removeprefix(base), location) for location in objects], columns=["object", "location"]
    )
    st.dataframe(frame, hide_index=True, width="stretch")

    from operatorflow.ui_access import render_output_download

    render_output_download(service, user, run, objects)


def _format_metric(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def show_catalog_problems(service: OperatorFlow, kind: WorkflowKind) -> None:
    """Warn about catalog files of `kind` that cannot be read, so a broken file does not vanish silently."""
    for name, message in service.list_catalog_problems(kind):
        st.warning(f"{name} cannot be run: {message}", icon=":material/warning:")


def render_workflow_runs(service: OperatorFlow, user: str, workflow_name: str, key_prefix: str,
                         empty_hint: str, render_result: ResultRenderer | None = None) -> None:
    """Draw the runs of one workflow the user may see: a run picker, Refresh, and the picked run, live while active."""
    from operatorflow.ui_access import render_workflow_sharing

    st.subheader(f"Runs of {workflow_name}")
    render_workflow_sharing(service, user, workflow_name, key_prefix)
    runs = service.list_runs(user, workflow=workflow_name, limit=50)
    if not runs:
        st.info(empty_hint)
        return

    labels = {run.id: run_label(run, user) for run in runs}
    selected_key = f"{key_prefix}_selected_run"
    if st.session_state.get(selected_key) not in labels:
        st.session_state[selected_key] = runs[0].id
    select, refresh = st.columns([5, 1], vertical_alignment="bottom")
    run_id = select.selectbox("Run", list(labels), format_func=labels.get, key=selected_key)
    refresh.button("Refresh", key=f"{key_prefix}_refresh", icon=":material/refresh:")

    show_live_run(service, user, run_id, key_prefix=key_prefix, render_result=render_result)
