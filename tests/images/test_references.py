"""Image names and registry settings: what is accepted, and the message for what is not."""

from __future__ import annotations

import pytest

from operatorflow.errors import InvalidInput
from operatorflow.images import ImageName, RegistryTarget, parse_image_name, parse_registry_url

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(("text", "expected"), [
    ("sample:1.0", ImageName("sample", "1.0")),
    ("team/sample", ImageName("team/sample", "latest")),
    ("  my-app_x.y:v2_rc-1  ", ImageName("my-app_x.y", "v2_rc-1")),
])
def test_image_name_accepted(text, expected):
    assert parse_image_name(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "The image tag is empty: give a name and a tag, for example sample:1.0."),
    ("127.0.0.1:5000/sample:1", "Invalid image tag '127.0.0.1:5000/sample:1': give the name without a registry "
                                "host, for example sample:1.0. Images go under the registry path set in "
                                "OPERATORFLOW_REGISTRY_URL."),
    ("localhost/sample:1", "Invalid image tag 'localhost/sample:1': give the name without a registry host, for "
                           "example sample:1.0. Images go under the registry path set in OPERATORFLOW_REGISTRY_URL."),
    ("Sample:1", "Invalid image name 'Sample' in 'Sample:1': use lowercase letters, digits and the separators "
                 ". _ - between them, with / between path parts, for example team/sample:1.0."),
    ("sample:", "Invalid image tag '' in 'sample:': use up to 128 letters, digits, _ . or -, not starting with "
                ". or -, for example 1.0."),
    ("sample:-1", "Invalid image tag '-1' in 'sample:-1': use up to 128 letters, digits, _ . or -, not starting "
                  "with . or -, for example 1.0."),
])
def test_image_name_rejected_with_message(text, message):
    with pytest.raises(InvalidInput) as caught:
        parse_image_name(text)

    assert str(caught.value) == message


@pytest.mark.parametrize(("url", "insecure", "expected"), [
    ("127.0.0.1:5000/team", False, RegistryTarget("127.0.0.1:5000", "team", tls_verify=False)),
    ("http://localhost:5000/", False, RegistryTarget("localhost:5000", "", tls_verify=False)),
    ("[::1]:5000/a/b", False, RegistryTarget("[::1]:5000", "a/b", tls_verify=False)),
    ("registry.example.com/team", False, RegistryTarget("registry.example.com", "team", tls_verify=True)),
    ("registry.example.com:5000", True, RegistryTarget("registry.example.com:5000", "", tls_verify=False)),
    (f"https://{ECR_HOST}/ml", False, RegistryTarget(ECR_HOST, "ml", tls_verify=True)),
])
def test_registry_url_parsed(url, insecure, expected):
    assert parse_registry_url(url, insecure) == expected


def test_tls_verification_off_only_for_loopback_hosts():
    assert parse_registry_url("127.0.0.1.example.com/team").tls_verify is True
    assert parse_registry_url("localhost.example.com:5000").tls_verify is True
    assert parse_registry_url("127.0.0.1:5000").api_url == "http://127.0.0.1:5000"
    assert parse_registry_url("registry.example.com").api_url == "https://registry.example.com"


def test_ecr_region_read_from_host():
    assert parse_registry_url(f"{ECR_HOST}/ml").ecr_region == "eu-west-1"
    assert parse_registry_url("127.0.0.1:5000").ecr_region is None


def test_reference_puts_name_under_registry_path():
    target = parse_registry_url("127.0.0.1:5000/team")

    assert target.repository(ImageName("sample", "1.0")) == "team/sample"
    assert target.reference(ImageName("sample", "1.0")) == "127.0.0.1:5000/team/sample:1.0"


@pytest.mark.parametrize(("url", "message"), [
    ("", "No registry is set: set OPERATORFLOW_REGISTRY_URL to the registry and path to push to, for example "
         "127.0.0.1:5000/team or 123456789012.dkr.ecr.eu-west-1.amazonaws.com."),
    ("registry.example.com/Team", "Invalid path 'Team' in OPERATORFLOW_REGISTRY_URL 'registry.example.com/Team': "
                                  "use lowercase letters, digits and . _ - between them, with / between path parts."),
])
def test_registry_url_rejected_with_message(url, message):
    with pytest.raises(InvalidInput) as caught:
        parse_registry_url(url)

    assert str(caught.value) == message
