"""The "Databricks workspace" section of SparkFlow: the workspace folder's notebooks and the clusters."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from operatorflow import ui
from operatorflow.databricks_catalog import DatabricksCatalog, build_databricks_catalog
from operatorflow.service import OperatorFlow


@st.cache_resource(show_spinner=False)
def get_databricks_catalog(_service: OperatorFlow) -> DatabricksCatalog | None:
    """Return the process-wide Databricks catalog, or None when settings enable no workspace.

    The catalog contains no user's token, so one cached object serves every session.
    """
    return build_databricks_catalog(_service)


def render_databricks_workspace(service: OperatorFlow, user: str) -> None:
    """Show the workspace's notebooks with the user's run status and the clusters; nothing when Databricks is off."""
    catalog = get_databricks_catalog(service)
    if catalog is None:
        return

    st.subheader("Databricks workspace")
    st.caption(f"Notebooks under {service.settings.databricks_workspace_dir} on {catalog.engine.host}.")
    try:
        notebooks = catalog.list_databricks_notebooks(user)
        clusters = catalog.list_databricks_clusters(user)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
        return

    if notebooks:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "notebook": n.notebook.name,
                        "path": n.notebook.path,
                        "status": n.status,
                        "runnable here": "yes" if n.in_catalog else "no: not in the local catalog",
                    }
                    for n in notebooks
                ]
            ),
            hide_index=True,
            width="stretch",
            key="sparkflow_databricks_notebooks",
        )
    else:
        st.info("The workspace folder has no notebooks yet: a catalog notebook is imported there at its first run.")

    if clusters:
        st.dataframe(
            pd.DataFrame([{"cluster": c.name, "id": c.cluster_id, "state": c.state} for c in clusters]),
            hide_index=True,
            width="stretch",
            key="sparkflow_databricks_clusters",
        )
    else:
        st.info("No clusters in this workspace: each run starts a new autoscaling cluster.")
