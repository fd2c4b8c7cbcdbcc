"""`python -m fraud_pipelines.serving [--host H] [--port P] [--workers N]`: start the REST service
with uvicorn (what `make serve` runs), after checking there is a champion model to serve. Each
worker process builds its own app (`create_app`, settings from the environment); the card state
they share is merged atomically per card by the online store."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Check the settings and the champion, then serve until interrupted; 2 for a malformed setting,
    1 when there is no champion, each with a clear message."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    parser = argparse.ArgumentParser(prog="python -m fraud_pipelines.serving", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or 1),
                        help="worker processes (default $WORKERS, else 1)")
    parser.add_argument("--access-log", action="store_true", help="log every request (costs latency)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")

    from fraud_pipelines.serving.settings import ServingSettings

    try:
        ServingSettings.from_env()  # a malformed FRAUD_SERVING_* variable stops here, once, not in each worker
    except ValueError as error:
        print(f"Cannot serve: {error}", file=sys.stderr)
        return 2

    from fraud_pipelines.settings import local_home
    from fraud_pipelines.training.registry import ModelRegistry

    mlflow = ModelRegistry()
    embedded_store_missing = not mlflow.tracking_uri and not (local_home() / "mlflow" / "mlflow.db").exists()
    if embedded_store_missing or mlflow.champion_version() is None:
        print(f"No champion model in {mlflow.resolved_tracking_uri()} (registered model "
              f"{mlflow.registered_model_name!r}): run `make demo` first; it trains, registers and promotes one.",
              file=sys.stderr)
        return 1

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Serving the champion on http://{args.host}:{args.port} with {args.workers} worker(s) (docs: /docs)",
          flush=True)
    uvicorn.run("fraud_pipelines.serving.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, access_log=args.access_log, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
