"""Start the OperatorFlow app over HTTPS, with the worker in the same process: `python -m operatorflow.serve`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Sequence

from operatorflow.errors import OperatorFlowError
from operatorflow.settings import PROJECT_DIR, Settings, load_settings

logger = logging.getLogger(__name__)

HOME_SCRIPT = PROJECT_DIR / "Home.py"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EXIT_OK = 0
EXIT_INVALID = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="operatorflow serve",
        description="Serve the OperatorFlow app over HTTPS only, on port OPERATORFLOW_PORT (default 8501). "
        "With OPERATORFLOW_WORKER=thread (the default) this process also runs the queued runs.",
    )
    parser.add_argument(
        "--address",
        default="localhost",
        help="address to listen on (default: localhost, reachable from this machine only; "
        "use 0.0.0.0 inside a container)",
    )
    parser.add_argument("--port", type=int, help="HTTPS port (default: OPERATORFLOW_PORT, else 8501)")
    return parser


def configure_logging() -> None:
    """Send INFO and above to standard error with time, level and logger name; later calls do nothing.

    Both entry points call it: this launcher, and Home.py when the app runs under `streamlit run`.
    """
    root = logging.getLogger()
    if any(getattr(handler, "operatorflow", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.operatorflow = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        if args.port:
            # The pages build their settings from the environment, and links in account emails name this port.
            os.environ["OPERATORFLOW_PORT"] = str(args.port)
        settings = load_settings()
        cert_path, key_path = _prepare(settings)
    except OperatorFlowError as exc:
        logger.error("OperatorFlow did not start: %s", exc)
        return EXIT_INVALID

    flag_options = streamlit_flag_options(settings, args.address, str(cert_path), str(key_path))
    host = "localhost" if args.address in ("localhost", "0.0.0.0", "::") else args.address
    print(f"OperatorFlow is at https://{host}:{settings.port}", flush=True)
    _run_streamlit(flag_options)
    return EXIT_OK


def _prepare(settings: Settings):
    """Check Java, make sure of the certificate and the accounts, start the worker.

    The accounts step imports an old accounts file and creates the command-line user.

    Nothing here imports Streamlit, so its configuration is read once, with the flags, just
    before the server starts.
    """
    from operatorflow.accounts import prepare_accounts
    from operatorflow.engines.spark_local import check_java
    from operatorflow.tls import ensure_certificate

    problem = check_java()
    if problem:
        logger.warning("SparkFlow runs will fail until Java is fixed: %s", problem)

    cert_path, key_path = ensure_certificate(settings)
    prepare_accounts(settings)

    if settings.worker == "thread":
        # Started here rather than on the first page view, so runs queued before a restart
        # resume even when no browser is open. The app's own service finds this worker.
        from operatorflow.factory import build_service
        from operatorflow.worker import start_background_worker

        start_background_worker(build_service(settings))
    else:
        logger.info("OPERATORFLOW_WORKER=none: start `python -m operatorflow.worker` to run queued runs")
    return cert_path, key_path


def streamlit_flag_options(settings: Settings, address: str, cert_file: str, key_file: str) -> dict[str, Any]:
    """Return Streamlit config options in the form of `streamlit run` flags (dotted names)."""
    return {
        "server.port": settings.port,
        "server.address": address,
        "server.sslCertFile": cert_file,
        "server.sslKeyFile": key_file,
        "server.headless": True,
        "server.enableXsrfProtection": True,
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "browser.gatherUsageStats": False,
        "logger.hideWelcomeMessage": True,
    }


def _run_streamlit(flag_options: dict[str, Any]) -> None:
    """Run the app in this process until SIGINT or SIGTERM, then stop the worker thread."""
    from streamlit import config as streamlit_config
    from streamlit.web import bootstrap

    from operatorflow.worker import stop_background_workers

    # What `streamlit run` does before bootstrap.run (streamlit 1.67, web/cli.py `_main_run`): the
    # script path makes Streamlit read `.streamlit/config.toml` next to Home.py from any folder.
    streamlit_config._main_script_path = str(HOME_SCRIPT)
    bootstrap.load_config_options(flag_options)
    try:
        bootstrap.run(str(HOME_SCRIPT), False, [], flag_options)
    finally:
        stop_background_workers()


if __name__ == "__main__":
    sys.exit(main())
