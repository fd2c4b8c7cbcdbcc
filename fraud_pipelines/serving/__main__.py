"""`python -m fraud_pipelines.serving [--host H] [--port P]`: start the REST service with uvicorn
(what `make serve` runs), after checking there is a champion model to serve."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Check for a champion, then serve until interrupted; 1 with a clear message when there is none."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    parser = argparse.ArgumentParser(prog="python -m fraud_pipelines.serving", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    parser.add_argument("--access-log", action="store_true", help="log every request (costs latency)")
    args = parser.parse_args(argv)

    from fraud_pipelines.training.registry import MlflowResource

    from fraud_pipelines.settings import local_home

    mlflow = MlflowResource()
    embedded_store_missing = not mlflow.tracking_uri and not (local_home() / "mlflow" / "mlflow.db").exists()
    if embedded_store_missing or mlflow.champion_version() is None:
        print(f"No champion model in {mlflow.resolved_tracking_uri()} (registered model "
              f"{mlflow.registered_model_name!r}): run `make demo` first; it trains, registers and promotes one.",
              file=sys.stderr)
        return 1

    import uvicorn

    from fraud_pipelines.serving.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Serving the champion on http://{args.host}:{args.port} (docs: /docs)", flush=True)
    uvicorn.run(create_app(mlflow=mlflow), host=args.host, port=args.port, access_log=args.access_log,
                log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
