"""Account page: who is signed in, and changing the password."""

import streamlit as st

from operatorflow import accounts, ui

user_name = ui.require_user()
account_service = ui.get_accounts()
user = account_service.users.get(user_name)

st.title("Account")
st.markdown(f"Signed in as **{user.name}**" + (f" ({user.email})" if user.email else ""))
if user.is_admin:
    st.caption("Administrator: manage users with `operatorflow users` on the server.")

if user.source != "local":
    st.info(f"This account signs in through {user.source}: change its password there.")
    st.stop()

st.subheader("Change password")
st.caption(f"Passwords: {accounts.PASSWORD_RULE}. Changing it signs you out in every other tab and browser.")
with st.form("account_change_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password")
    new_password = st.text_input("New password", type="password")
    repeat = st.text_input("Repeat new password", type="password")
    submitted = st.form_submit_button("Change password")
if submitted:
    try:
        account_service.change_password(user.name, current, new_password, repeat)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
    else:
        # Every session ended with the change, so this tab gets a new one.
        st.session_state["account_changed"] = True
        ui.sign_in_as(user.name)
if st.session_state.pop("account_changed", False):
    st.success("Password changed. Other tabs and browsers are signed out.")
