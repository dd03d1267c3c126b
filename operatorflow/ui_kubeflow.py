"""Kubeflow parts of the KubeFlow page: the cached server catalog and the pipelines stored on the server."""

from __future__ import annotations

import logging

import streamlit as st

from operatorflow.errors import OperatorFlowError
from operatorflow.kubeflow_catalog import KubeflowCatalog, build_kubeflow_catalog, server_workflow_name
from operatorflow.service import OperatorFlow

logger = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def get_kubeflow_catalog(_service: OperatorFlow) -> KubeflowCatalog | None:
    """Return the process-wide Kubeflow catalog, or None when settings name no Kubeflow endpoint.

    The catalog keeps no user's token, so one cached object serves every session.
    """
    return build_kubeflow_catalog(_service)


def list_server_pipeline_names(catalog: KubeflowCatalog | None, user: str) -> list[str]:
    """Return the workflow names of the pipelines stored on the server; warn and return [] when it cannot be read."""
    if catalog is None:
        return []
    try:
        pipelines = catalog.list_server_pipelines(user)
    except OperatorFlowError as exc:
        logger.warning("kubeflow pipelines of %s cannot be listed, showing the catalog only: %s", user, exc)
        st.warning(f"Only the catalog's pipelines are listed, because the Kubeflow server's cannot be: {exc}",
                   icon=":material/cloud_off:")
        return []
    return [server_workflow_name(pipeline) for pipeline in pipelines]
