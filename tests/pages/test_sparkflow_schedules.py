"""SparkFlow page, Schedules section: create, list with next runs, pause, resume, delete, missed-slot note."""

from __future__ import annotations

from operatorflow.registry.store import new_run_id
from tests.pages.conftest import USER, errors, open_page, run

WORD_COUNT = "shakespeare-wordcount"
CREATE_BUTTON = "FormSubmitter:sparkflow_schedule_form-Create schedule"


def _page_text(at) -> str:
    return "\n".join([*(m.value for m in at.markdown), *(c.value for c in at.caption)])


def test_schedule_form_creates_schedule(signed_in_app, service):
    open_page(signed_in_app, "sparkflow")
    signed_in_app.text_input(key="sparkflow_schedule_cron").set_value("30 6 * * 1-5")
    signed_in_app.selectbox(key="sparkflow_schedule_timezone").set_value("Europe/Berlin")
    signed_in_app.text_input(key=f"sparkflow_schedule_param_{WORD_COUNT}_top_n").set_value("4")

    signed_in_app.button(key=CREATE_BUTTON).click()
    run(signed_in_app)

    [view] = service.schedules.list_schedules(USER)
    assert view.schedule.cron == "30 6 * * 1-5"
    assert view.schedule.timezone == "Europe/Berlin"
    assert view.schedule.parameters["top_n"] == "4"
    assert view.schedule.engine == "local-spark"
    assert signed_in_app.success[0].value.startswith(f"Schedule {view.schedule.id} of {WORD_COUNT} created")
    assert "Next runs:" in _page_text(signed_in_app)


def test_schedule_form_shows_bad_cron_message(signed_in_app, service):
    open_page(signed_in_app, "sparkflow")
    signed_in_app.text_input(key="sparkflow_schedule_cron").set_value("every morning")

    signed_in_app.button(key=CREATE_BUTTON).click()
    run(signed_in_app)

    assert errors(signed_in_app) == [
        "Invalid cron expression 'every morning': give five fields (minute hour day-of-month month "
        "day-of-week), for example '0 3 * * *' (every day at 03:00) or '*/15 * * * *' (every 15 minutes)."
    ]
    assert service.schedules.list_schedules(USER) == []


def test_schedule_buttons_pause_resume_delete(signed_in_app, service):
    schedule = service.schedules.create_schedule(USER, WORD_COUNT, "0 3 * * *", "UTC")
    open_page(signed_in_app, "sparkflow")
    toggle = f"sparkflow_schedule_toggle_{schedule.id}"

    signed_in_app.button(key=toggle).click()
    run(signed_in_app)
    paused = service.schedules.get_schedule(USER, schedule.id).paused
    signed_in_app.button(key=toggle).click()
    run(signed_in_app)
    resumed = service.schedules.get_schedule(USER, schedule.id).paused
    signed_in_app.button(key=f"sparkflow_schedule_delete_{schedule.id}").click()
    run(signed_in_app)

    assert paused is True
    assert resumed is False
    assert service.schedules.list_schedules(USER) == []
    assert "No schedules yet: open the form above to create one." in _page_text(signed_in_app)


def test_schedule_shows_missed_slot_note(signed_in_app, service):
    schedule = service.schedules.create_schedule(USER, WORD_COUNT, "0 3 * * *", "UTC")
    slot = service.clock.now()
    run_id = new_run_id()
    service.schedules.store.fire_slot(schedule, slot, 2, str(service.settings.home / run_id), run_id)

    open_page(signed_in_app, "sparkflow")

    assert [w.value for w in signed_in_app.warning] == [
        "2 slot(s) were missed while no worker ran and were skipped; only the latest missed slot ran."
    ]
    assert f"last run: {run_id}" in _page_text(signed_in_app)


def test_other_users_schedules_not_listed(signed_in_app, service):
    service.schedules.create_schedule("bob", WORD_COUNT, "0 3 * * *", "UTC")

    open_page(signed_in_app, "sparkflow")

    assert "No schedules yet: open the form above to create one." in _page_text(signed_in_app)
