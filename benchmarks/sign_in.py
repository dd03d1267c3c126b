"""Time the sign-in modes: ALB header verification, and Cognito sign-in and renewal against moto on 127.0.0.1.

Usage: .venv/bin/python benchmarks/sign_in.py [--repeat N]

moto runs on this machine, so the Cognito figures show the app's own cost (mostly pycognito's SRP
arithmetic) plus moto's, without the network round trip to AWS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from operatorflow.accounts_alb import AlbIdentityVerifier  # noqa: E402
from operatorflow.accounts_cognito import CognitoAccounts  # noqa: E402
from operatorflow.clock import Clock  # noqa: E402
from operatorflow.settings import load_settings  # noqa: E402
from tests.alb_tokens import ALB_ARN, AlbSigner, KeyServer  # noqa: E402
from tests.aws import MotoServer  # noqa: E402
from tests.cognito_pool import PASSWORD, create_pool  # noqa: E402


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Return the wall time of each of `repeat` calls, in milliseconds."""
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def report(name: str, durations: list[float]) -> None:
    print(f"| {name} | {len(durations)} | {statistics.median(durations):.2f} | "
          f"{min(durations):.2f}-{max(durations):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="calls per Cognito measurement (1-200)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request at INFO
    repeat = max(1, min(args.repeat, 200))
    print("| operation | calls | median ms | min-max ms |")
    print("|---|---|---|---|")

    with tempfile.TemporaryDirectory() as home:
        signer = AlbSigner()
        key_server = KeyServer().start()
        key_server.add(signer)
        try:
            settings = load_settings(home=Path(home), auth_mode="alb", alb_arn=ALB_ARN,
                                     alb_public_key_url=key_server.url_template)
            verifier = AlbIdentityVerifier(settings, Clock())
            headers = {"x-amzn-oidc-data": signer.token(expires=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))}
            report("ALB header, first call (fetches the key from 127.0.0.1)", timed(lambda: verifier.verify(headers), 1))
            report("ALB header, key cached", timed(lambda: verifier.verify(headers), repeat * 50))
        finally:
            key_server.stop()

        moto = MotoServer().start()
        try:
            pool = create_pool(moto, with_secret=True)
            pool.add_confirmed_user("ada")
            srp = CognitoAccounts(pool.settings(Path(home)), Clock())
            password_flow = CognitoAccounts(pool.settings(Path(home), cognito_auth_flow="USER_PASSWORD_AUTH"), Clock())
            session = srp.sign_in("ada", PASSWORD)
            renewing = CognitoAccounts(pool.settings(Path(home), cognito_refresh_minutes=120), Clock())
            report("Cognito sign-in, USER_SRP_AUTH (moto)", timed(lambda: srp.sign_in("ada", PASSWORD), repeat))
            report("Cognito sign-in, USER_PASSWORD_AUTH (moto)",
                   timed(lambda: password_flow.sign_in("ada", PASSWORD), repeat))
            report("Cognito token renewal (moto)", timed(lambda: renewing.refresh_if_needed(session), repeat))
            report("Cognito renewal check, no renewal due", timed(lambda: srp.refresh_if_needed(session), repeat * 50))
        finally:
            moto.stop()


if __name__ == "__main__":
    main()
