"""Settings page: the user's own credentials, and for administrators the shared ones."""

import streamlit as st

from operatorflow import ui, ui_credentials

user = ui.require_user()
service = ui.get_service()

st.title("Settings")
st.subheader("Your credentials")
st.caption("Tokens and passwords that engines and services use for your runs. They are stored encrypted, and "
           "no page shows them again: the list shows at most the last 4 characters.")
ui_credentials.render_credentials(service, user, shared=False)

# The page only decides what to draw; the credential service checks the permission on every call.
if service.credentials.is_admin(user):
    st.divider()
    st.subheader("Shared credentials")
    st.caption("Used for every user who has not stored their own. Only administrators see and change them.")
    ui_credentials.render_credentials(service, user, shared=True)
