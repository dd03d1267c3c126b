"""Sign-in page: sign in with a local account or create one."""

import streamlit as st

from operatorflow import accounts, ui

st.title("OperatorFlow")
st.caption("Run Spark notebooks and ML pipelines without touching infrastructure.")

sign_in, create = st.tabs(["Sign in", "Create account"])

with sign_in:
    fields = {"Form name": "Sign in", "Username": "Username", "Password": "Password", "Login": "Sign in"}
    ui.get_authenticator().login(location="main", fields=fields, key="login_sign_in")
    if ui.current_user() is not None:
        ui.finish_sign_in()
    elif st.session_state.get("authentication_status") is False:
        st.error("Wrong username or password. Check both, or create an account on the next tab.")

with create:
    st.caption(f"Usernames: {accounts.USERNAME_RULE}. Passwords: 8 to 20 characters with a lowercase "
               "and an uppercase letter, a digit and a special character.")
    try:
        created = accounts.register_account(
            ui.get_service().settings, ui.get_authenticator(), ui.get_accounts_config(), key="login_register"
        )
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
    else:
        if created:
            st.success(f"Account {created} created. Sign in on the Sign in tab.")
