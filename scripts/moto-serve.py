"""moto's server, with DynamoDB requests applied one at a time.

DynamoDB applies a conditional write atomically. moto's threaded server checks the condition
and writes in two steps, so concurrent conditional updates can both pass and one is lost
(seen here: 49 of 50; the contract test concurrent_conditional_updates_lose_nothing shows it).
Serializing DynamoDB requests restores DynamoDB's guarantee; S3 and SQS (long polls) stay
concurrent. Otherwise this is moto_server's own start-up (moto/server.py).
"""
import os
import signal
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    dynamodb = threading.Lock()

    def serialized(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with dynamodb:
                # moto builds the whole response inside the call.
                return list(app(environ, start_response))
        return app(environ, start_response)

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
