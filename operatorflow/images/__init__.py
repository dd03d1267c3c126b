"""Build container images from folders on the server with podman, buildah or Docker and push them to a registry."""

from operatorflow.images.builders import (
    NO_BUILDER_MESSAGE,
    BuildahImageBuilder,
    DockerImageBuilder,
    ImageBuilder,
    PodmanImageBuilder,
    RegistryAuth,
    detect_image_builder,
)
from operatorflow.images.jobs import ImageAction, ImageJob, ImageJobs, ImageJobStatus
from operatorflow.images.references import ImageName, RegistryTarget, parse_image_name, parse_registry_url
from operatorflow.images.registries import DistributionRegistry, ECRRegistry, ImageRegistry, SecretProvider
from operatorflow.images.service import ImageService, list_pushed_images, parse_build_args

__all__ = [
    "NO_BUILDER_MESSAGE",
    "BuildahImageBuilder",
    "DistributionRegistry",
    "DockerImageBuilder",
    "ECRRegistry",
    "ImageAction",
    "ImageBuilder",
    "ImageJob",
    "ImageJobStatus",
    "ImageJobs",
    "ImageName",
    "ImageRegistry",
    "ImageService",
    "PodmanImageBuilder",
    "RegistryAuth",
    "RegistryTarget",
    "SecretProvider",
    "detect_image_builder",
    "list_pushed_images",
    "parse_build_args",
    "parse_image_name",
    "parse_registry_url",
]
