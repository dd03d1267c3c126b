"""Account page: who is signed in, and changing the password."""

import streamlit as st

from operatorflow import accounts, ui

user_name = ui.require_user()
account_service = ui.get_accounts()
user = account_service.users.get(user_name)


def _change_password() -> None:
    # A callback, like the sign-in form's, so a rerun requested meanwhile cannot leave this tab
    # without a session after the change ended them all.
    try:
        account_service.change_password(
            user.name, st.session_state["account_current_password"], st.session_state["account_new_password"],
            st.session_state["account_new_repeat"],
        )
        ui.sign_in_as(user.name)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        st.session_state["account_outcome"] = ("error", exc)
    else:
        st.session_state["account_outcome"] = ("success", "Password changed. Other tabs and browsers are signed out.")
    for key in ("account_current_password", "account_new_password", "account_new_repeat"):
        st.session_state[key] = ""


st.title("Account")
st.markdown(f"Signed in as **{user.name}**" + (f" ({user.email})" if user.email else ""))
if user.is_admin:
    st.caption("Administrator: manage users on the Administration page or with `operatorflow users` on the server.")

if user.source != "local":
    st.info(f"This account signs in through {user.source}: change its password there.")
    st.stop()

st.subheader("Change password")
st.caption(f"Passwords: {accounts.PASSWORD_RULE}. Changing it signs you out in every other tab and browser.")
with st.form("account_change_password"):
    st.text_input("Current password", type="password", key="account_current_password")
    st.text_input("New password", type="password", key="account_new_password")
    st.text_input("Repeat new password", type="password", key="account_new_repeat")
    st.form_submit_button("Change password", on_click=_change_password)

# Read, not popped: the cookie component reruns the page once after the new session's cookie is set,
# and the message must survive that rerun.
outcome = st.session_state.get("account_outcome")
if outcome is not None:
    level, message = outcome
    if level == "success":
        st.success(message)
    else:
        ui.show_error(message)
