"""Settings page: store, replace and delete one's own credentials; administrators also manage shared ones."""

from __future__ import annotations

from operatorflow.credentials import SHARED_SCOPE
from tests.credentials.conftest import add_user
from tests.pages.conftest import USER, errors, open_page, run

OWN_SAVE = "FormSubmitter:settings_own_form-Save"
SHARED_SAVE = "FormSubmitter:settings_shared_form-Save"
SECRET = "kf-token-0123456789-ABCD"


def page_text(at) -> str:
    parts = [*(m.value for m in at.markdown), *(c.value for c in at.caption), *(c.value for c in at.code),
             *(s.value for s in at.success), *(e.value for e in at.error)]
    return "\n".join(parts)


def save_own(at, name: str, value: str):
    at.selectbox(key="settings_own_name").set_value(name)
    at.text_input(key="settings_own_value").set_value(value)
    at.button(key=OWN_SAVE).click()
    return run(at)


def test_page_starts_empty_without_shared_section(signed_in_app):
    open_page(signed_in_app, "settings")

    assert "None stored yet." in page_text(signed_in_app)
    assert [s.value for s in signed_in_app.subheader] == ["Your credentials"]


def test_store_shows_masked_value_only(signed_in_app, service):
    open_page(signed_in_app, "settings")

    save_own(signed_in_app, "kubeflow-token", SECRET)

    assert service.credentials.resolve_credential(USER, "kubeflow-token") == SECRET
    assert [s.value for s in signed_in_app.success] == ["Stored kubeflow-token."]
    assert [c.value for c in signed_in_app.code] == ["••••ABCD"]
    assert SECRET not in page_text(signed_in_app)


def test_store_again_replaces_value(signed_in_app, service):
    open_page(signed_in_app, "settings")
    save_own(signed_in_app, "kubeflow-token", SECRET)

    save_own(signed_in_app, "kubeflow-token", "kf-token-9876543210-WXYZ")

    assert service.credentials.resolve_credential(USER, "kubeflow-token") == "kf-token-9876543210-WXYZ"
    assert [c.value for c in signed_in_app.code] == ["••••WXYZ"]


def test_delete_removes_credential(signed_in_app, service):
    open_page(signed_in_app, "settings")
    save_own(signed_in_app, "registry-password", SECRET)

    signed_in_app.button(key="settings_own_delete_registry-password").click()
    run(signed_in_app)

    assert service.credentials.resolve_credential(USER, "registry-password") is None
    assert [s.value for s in signed_in_app.success] == ["Deleted registry-password."]
    assert "None stored yet." in page_text(signed_in_app)


def test_empty_value_shows_message(signed_in_app, service):
    open_page(signed_in_app, "settings")

    save_own(signed_in_app, "smtp-password", "")

    assert errors(signed_in_app) == ["The value of credential smtp-password is empty: enter the secret itself."]
    assert service.credentials.list_credentials(USER) == []


def test_admin_manages_shared_credentials(signed_in_app, service):
    add_user(service.registry, USER, is_admin=True)
    open_page(signed_in_app, "settings")
    assert [s.value for s in signed_in_app.subheader] == ["Your credentials", "Shared credentials"]

    signed_in_app.selectbox(key="settings_shared_name").set_value("databricks-token")
    signed_in_app.text_input(key="settings_shared_value").set_value("dapi-shared-token-0001")
    signed_in_app.button(key=SHARED_SAVE).click()
    run(signed_in_app)

    assert service.credentials.store.get_credential(SHARED_SCOPE, "databricks-token") == "dapi-shared-token-0001"
    assert service.credentials.resolve_credential("someone-else", "databricks-token") == "dapi-shared-token-0001"
    assert [c.value for c in signed_in_app.code] == ["••••0001"]
    assert "by ada" in page_text(signed_in_app)
