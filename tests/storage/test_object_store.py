"""One contract suite for every ObjectStore: the local folder and S3 (moto on 127.0.0.1)."""

import uuid

import pytest

from operatorflow.errors import InvalidInput, NotFound
from operatorflow.storage import LocalObjectStore, ObjectStores, S3ObjectStore
from tests.aws import MotoServer


@pytest.fixture(scope="module")
def moto_server():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store_and_prefix(request, tmp_path):
    if request.param == "local":
        return LocalObjectStore(tmp_path), str(tmp_path / "bucket")
    server = request.getfixturevalue("moto_server")
    client = server.client("s3")
    bucket = f"test-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    return S3ObjectStore(client), f"s3://{bucket}"


def test_write_then_read_returns_same_bytes(store_and_prefix):
    store, prefix = store_and_prefix

    store.write_bytes(f"{prefix}/a/b.txt", b"hello")

    assert store.read_bytes(f"{prefix}/a/b.txt") == b"hello"
    assert store.exists(f"{prefix}/a/b.txt")
    assert store.exists(f"{prefix}/a")


def test_read_missing_object_raises_not_found(store_and_prefix):
    store, prefix = store_and_prefix

    with pytest.raises(NotFound, match="No object at"):
        store.read_bytes(f"{prefix}/missing.txt")


def test_list_objects_stays_inside_folder(store_and_prefix):
    store, prefix = store_and_prefix
    store.write_bytes(f"{prefix}/data/one.csv", b"1")
    store.write_bytes(f"{prefix}/data/sub/two.csv", b"2")
    store.write_bytes(f"{prefix}/database/three.csv", b"3")

    listed = store.list_objects(f"{prefix}/data")

    assert listed == [f"{prefix}/data/one.csv", f"{prefix}/data/sub/two.csv"]


def test_upload_folder_and_download_prefix_round_trip(store_and_prefix, tmp_path):
    store, prefix = store_and_prefix
    source = tmp_path / "source"
    (source / "model").mkdir(parents=True)
    (source / "model" / "model.joblib").write_bytes(b"m")
    (source / "metrics.json").write_text("{}")

    written = store.upload_folder(source, f"{prefix}/run1")
    local = store.download_prefix(f"{prefix}/run1", tmp_path / "copy")

    assert sorted(written) == [f"{prefix}/run1/metrics.json", f"{prefix}/run1/model/model.joblib"]
    assert (local / "model" / "model.joblib").read_bytes() == b"m"
    assert (local / "metrics.json").read_text() == "{}"


def test_download_prefix_of_single_object_returns_file(store_and_prefix, tmp_path):
    store, prefix = store_and_prefix
    store.write_bytes(f"{prefix}/in/trips.csv", b"a,b\n1,2\n")

    local = store.download_prefix(f"{prefix}/in/trips.csv", tmp_path / "staged")

    assert local.name == "trips.csv"
    assert local.read_bytes() == b"a,b\n1,2\n"


def test_stores_pick_backend_by_scheme(tmp_path, moto_server):
    stores = ObjectStores(tmp_path, s3_endpoint_url=moto_server.endpoint_url)

    assert isinstance(stores.for_location("s3://bucket/key"), S3ObjectStore)
    assert isinstance(stores.for_location("relative/path"), LocalObjectStore)
    assert isinstance(stores.for_location("file:///abs/path"), LocalObjectStore)


def test_unsupported_scheme_raises_invalid_input(tmp_path):
    stores = ObjectStores(tmp_path)

    with pytest.raises(InvalidInput, match=r"Unsupported location scheme gs://"):
        stores.for_location("gs://bucket/key")


def test_s3_missing_bucket_raises_not_found(moto_server):
    store = S3ObjectStore(moto_server.client("s3"))

    with pytest.raises(NotFound, match="s3://no-such-bucket/key"):
        store.read_bytes("s3://no-such-bucket/key")


def test_local_relative_location_resolves_against_base(tmp_path):
    store = LocalObjectStore(tmp_path)

    store.write_bytes("out/x.txt", b"x")

    assert (tmp_path / "out" / "x.txt").read_bytes() == b"x"
