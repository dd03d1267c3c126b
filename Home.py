"""OperatorFlow's entry script: logging, page settings, sign-in state and the page list."""

import streamlit as st

from operatorflow import ui, ui_sign_in

ui.configure_logging()
st.set_page_config(page_title="OperatorFlow", page_icon=":material/rocket_launch:", layout="wide")
try:
    ui_sign_in.authenticate()
except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
    ui.show_error(exc)
    st.stop()

# The pages live in app_pages/: Streamlit 1.67 treats a `pages/` folder next to the entry script
# as an older kind of multipage app and can run its files directly, skipping this router.
user = ui.current_user()
if user is None:
    pages = [st.Page("app_pages/login.py", title="Sign in", icon=":material/login:", url_path="login")]
else:
    pages = [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/sparkflow.py", title="SparkFlow", icon=":material/bolt:"),
        st.Page("app_pages/kubeflow.py", title="KubeFlow", icon=":material/account_tree:"),
        st.Page("app_pages/inference.py", title="Inference", icon=":material/model_training:"),
        st.Page("app_pages/monitoring.py", title="Monitoring", icon=":material/monitoring:"),
        st.Page("app_pages/settings.py", title="Settings", icon=":material/settings:"),
        st.Page("app_pages/account.py", title="Account", icon=":material/manage_accounts:"),
    ]
    if ui.get_accounts().users.is_admin(user):
        pages.append(st.Page("app_pages/admin.py", title="Administration", icon=":material/admin_panel_settings:"))
    with st.sidebar:
        st.markdown(f"Signed in as **{user}**")
        if ui_sign_in.offers_sign_out():
            st.button("Sign out", key="router_sign_out", icon=":material/logout:", on_click=ui_sign_in.sign_out)
        else:
            st.caption("Sign out through your organisation's sign-in page.")

page = st.navigation(pages)
try:
    page.run()
except Exception as exc:  # noqa: BLE001 - a page's unhandled error is shown, not a stack trace
    ui.show_error(exc)
