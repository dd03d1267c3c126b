"""Engine and service credentials, encrypted in the registry database or kept in HashiCorp Vault."""

from operatorflow.credentials.base import (
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    DATABRICKS_TOKEN,
    KUBEFLOW_TOKEN,
    REGISTRY_PASSWORD,
    REGISTRY_USERNAME,
    SHARED_SCOPE,
    SMTP_PASSWORD,
    STANDARD_NAMES,
    CredentialInfo,
    CredentialStore,
    user_scope,
)
from operatorflow.credentials.service import (
    CredentialService,
    build_credential_service,
    build_credential_store,
    resolve_credential,
)

__all__ = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "DATABRICKS_TOKEN",
    "KUBEFLOW_TOKEN",
    "REGISTRY_PASSWORD",
    "REGISTRY_USERNAME",
    "SHARED_SCOPE",
    "SMTP_PASSWORD",
    "STANDARD_NAMES",
    "CredentialInfo",
    "CredentialService",
    "CredentialStore",
    "build_credential_service",
    "build_credential_store",
    "resolve_credential",
    "user_scope",
]
