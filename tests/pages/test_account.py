"""The Account page: changing the password."""

from __future__ import annotations

from tests.pages.conftest import PASSWORD, USER, errors, open_page, run, sign_in

NEW_PASSWORD = "Analytical-Engine-2"


def change_password(at, current: str, new: str, repeat: str | None = None):
    fields = {field.label: field for field in at.text_input}
    fields["Current password"].set_value(current)
    fields["New password"].set_value(new)
    fields["Repeat new password"].set_value(new if repeat is None else repeat)
    at.button(key="FormSubmitter:account_change_password-Change password").click()
    return run(at)


def test_change_password_keeps_this_tab_signed_in(signed_in_app):
    open_page(signed_in_app, "account")

    change_password(signed_in_app, PASSWORD, NEW_PASSWORD)

    assert [s.value for s in signed_in_app.success] == ["Password changed. Other tabs and browsers are signed out."]
    assert signed_in_app.sidebar.markdown[0].value == f"Signed in as **{USER}**"
    signed_in_app.sidebar.button(key="router_sign_out").click()
    run(signed_in_app)
    sign_in(signed_in_app, USER, NEW_PASSWORD)
    assert signed_in_app.sidebar.markdown[0].value == f"Signed in as **{USER}**"


def test_change_password_rejects_wrong_current(signed_in_app):
    open_page(signed_in_app, "account")

    change_password(signed_in_app, "Wrong#password1", NEW_PASSWORD)

    assert errors(signed_in_app) == ["The current password is wrong: type it again."]
