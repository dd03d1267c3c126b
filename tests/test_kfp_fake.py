"""The fake Kubeflow Pipelines server responds to kfp.Client 2.17 the way the v2beta1 API does."""

from __future__ import annotations

import json
import warnings

import kfp
import pytest
from kfp_server_api.exceptions import ApiException

from tests.kfp_fake import TOKEN, FakeKubeflow

NAMESPACE = "kubeflow-user-ada"


@pytest.fixture
def fake():
    server = FakeKubeflow(namespaces={NAMESPACE})
    server.start()
    yield server
    server.stop()


def client(fake, token=TOKEN):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=fake.host, existing_token=token, namespace=NAMESPACE, cookies="")


def test_healthz_reports_multi_user(fake):
    health = client(fake).get_kfp_healthz()

    assert health.multi_user is True


def test_request_without_token_unauthenticated(fake):
    with pytest.raises(ApiException) as caught:
        client(fake, token=None).list_experiments()

    assert caught.value.status == 401
    assert json.loads(caught.value.body)["code"] == 16


def test_experiment_created_listed_and_read(fake):
    kfp_client = client(fake)
    created = kfp_client.experiments.experiment_service_create_experiment(
        experiment=kfp_client.api_models.V2beta1Experiment(display_name="exp", namespace=NAMESPACE)
    )

    by_name = kfp_client.get_experiment(experiment_name="exp")
    by_id = kfp_client.get_experiment(experiment_id=created.experiment_id)

    assert by_name.experiment_id == created.experiment_id
    assert by_id.namespace == NAMESPACE


def test_unknown_experiment_and_run_not_found(fake):
    kfp_client = client(fake)

    with pytest.raises(ApiException) as experiment:
        kfp_client.get_experiment(experiment_id="missing")
    with pytest.raises(ApiException) as run:
        kfp_client.get_run("missing")

    assert experiment.value.status == 404
    assert run.value.status == 404


def test_foreign_namespace_forbidden(fake):
    with pytest.raises(ApiException) as caught:
        client(fake).list_runs(namespace="someone-else")

    assert caught.value.status == 403
    assert "not authorized to access namespace 'someone-else'" in json.loads(caught.value.body)["message"]


def test_invalid_page_token_rejected(fake):
    with pytest.raises(ApiException) as caught:
        client(fake).list_experiments(page_token="not-a-token")

    assert caught.value.status == 400


def test_failure_burst_then_recovery(fake):
    fake.fail_next(2, status=500, method="GET", path_part="/experiments")
    kfp_client = client(fake)

    statuses = []
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            kfp_client.list_experiments()
        statuses.append(caught.value.status)
    recovered = kfp_client.list_experiments()

    assert statuses == [500, 500]
    assert recovered.experiments is None
