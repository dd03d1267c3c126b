"""The `operatorflow images` commands: build an image from a folder, push it to the registry, list pushed images."""

from __future__ import annotations

import argparse
import json
import sys

from operatorflow.images import ImageJobStatus, ImageService, parse_build_args
from operatorflow.images.builders import stop_running_commands
from operatorflow.service import OperatorFlow

EXIT_OK = 0
EXIT_JOB_FAILED = 1


def add_image_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the `images` command and its actions to the `operatorflow` parser."""
    images = commands.add_parser("images", parents=[common], help="build container images and push them")
    actions = images.add_subparsers(dest="images_command", required=True, metavar="ACTION")

    build = actions.add_parser("build", parents=[common],
                               help="build the Dockerfile (or Containerfile) in a folder with podman, buildah or Docker")
    build.add_argument("path", metavar="PATH", help="build folder on this machine; it must contain a Dockerfile")
    build.add_argument("--tag", required=True, metavar="NAME:TAG",
                       help="image name and tag, for example sample:1.0; the registry path is added from settings")
    build.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="set a build argument (ARG in the Dockerfile); repeat for several")

    push = actions.add_parser("push", parents=[common], help="push a built image to OPERATORFLOW_REGISTRY_URL")
    push.add_argument("tag", metavar="NAME:TAG", help="image name and tag as given to `images build`")

    listing = actions.add_parser("list", parents=[common], help="list the images under the registry path")
    listing.add_argument("--json", action="store_true", help="print JSON only")


def run_image_command(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    """Carry out one `images` action, printing build and push output as it comes.

    Exits 1 when the build or push fails; other product errors propagate to `cli.main`, which prints them.
    """
    images = ImageService(service.settings, clock=service.clock)
    if args.images_command == "list":
        references = images.list_pushed_images()
        if args.json:
            print(json.dumps(references, indent=2))
        elif references:
            print("\n".join(references))
        elif not service.settings.registry_url:
            print("No registry is set: set OPERATORFLOW_REGISTRY_URL to list pushed images.")
        else:
            print("No images under the registry path yet. Push one with `operatorflow images push NAME:TAG`.")
        return EXIT_OK

    echo = _print_line
    if args.images_command == "build":
        job = images.submit_build(user, args.path, args.tag, parse_build_args(args.build_arg), echo=echo)
    else:
        job = images.submit_push(user, args.tag, echo=echo)
    try:
        finished = images.jobs.wait_for_job(user, job.id)
    except KeyboardInterrupt:
        stop_running_commands()
        print(f"Stopped: the {job.action.value} of {job.image} was interrupted.", file=sys.stderr)
        raise SystemExit(130)

    if finished.status is ImageJobStatus.SUCCEEDED:
        return EXIT_OK
    print(f"error: {finished.error_message}", file=sys.stderr)
    return EXIT_JOB_FAILED


def _print_line(line: str) -> None:
    print(line, flush=True)

