"""A small Lambda Runtime API on 127.0.0.1, and a DynamoDB stub, for scripts/bench-coldstart.

Runtime API (the subset a custom runtime uses, API version 2018-06-01):
  GET  /2018-06-01/runtime/invocation/next            -> the run's event, with the
       Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn and -Trace-Id headers
  POST /2018-06-01/runtime/invocation/{id}/response   -> 202, recorded as the run's answer
  POST /2018-06-01/runtime/invocation/{id}/error      -> 202, recorded as the run's answer
  POST /2018-06-01/runtime/init/error                 -> 202, recorded as the run's answer
One process is one run (`Run`), served on a port of its own, so that a request still in flight
from the process before cannot be taken for this one's. The run's first `next` gets the event;
a second `next` (the runtime asking for more work) is held until the run ends, as Lambda holds
it until the next invocation.

The DynamoDB stub answers every call with an empty result (a Query finds nothing, a GetItem no
item, a write succeeds) and counts the calls, so that a function that reads the catalog at
start-up reaches its real response path without any request leaving the machine.

Standard library only. Used by scripts/bench-coldstart; `python3 scripts/lambda_runtime_api.py
EVENT.json` serves one event by hand (prints the port, then what the function answered).
"""

import json
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Run:
    """One process's invocation: its event, when things happened, and what it answered."""

    def __init__(self, event: bytes, function_name: str):
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.started = time.perf_counter()  # reset by the caller right before exec
        self.first_next = None  # perf_counter when the runtime first asked for an event
        self.answered = None  # perf_counter of the first /response, /error or /init/error
        self.kind = None  # "response", "error" or "init-error"
        self.body = b""
        self.dynamodb_calls = 0  # DynamoDB requests before the answer
        self.first_call = None  # perf_counter when the first DynamoDB request's body was read
        self.last_reply = None  # perf_counter when the last DynamoDB reply before the answer went out
        self.delivered = False
        self.done = threading.Event()  # the answer arrived (or the run was abandoned)
        self.ended = threading.Event()  # the process is gone: held polls may hang up
        self.lock = threading.Lock()

    def answer(self, kind: str, body: bytes):
        with self.lock:
            if self.answered is None:
                self.answered = time.perf_counter()
                self.kind = kind
                self.body = body
        self.done.set()


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, by Content-Length or chunked (hyper may send either)."""
    length = handler.headers.get("Content-Length")
    if length is not None:
        return handler.rfile.read(int(length))
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        out = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # Trailers, up to the empty line.
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    return b""


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        conn, addr = super().get_request()
        # Headers and body go out as separate writes: without this, Nagle's algorithm holds
        # the body until the client's delayed ACK (40 ms) on a reused connection.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def handle_error(self, request, client_address):
        # A killed process hangs up mid-exchange: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def serve(handler) -> Server:
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def stop(server: Server):
    """Stops a server without waiting for it (shutdown blocks until its loop notices)."""

    def run():
        server.shutdown()
        server.server_close()

    threading.Thread(target=run, daemon=True).start()


class Emulator:
    """The DynamoDB stub, and a Runtime API per run; all on ports of 127.0.0.1 that the system
    chooses. `run` is the current run (the DynamoDB stub counts its calls)."""

    def __init__(self):
        self.run = None
        self.runtime = None
        self.dynamodb = serve(self._dynamodb_handler())

    @property
    def runtime_api(self) -> str:
        """The current run's Runtime API, for AWS_LAMBDA_RUNTIME_API."""
        return f"127.0.0.1:{self.runtime.server_address[1]}"

    @property
    def dynamodb_url(self) -> str:
        return f"http://127.0.0.1:{self.dynamodb.server_address[1]}"

    def start(self, run: Run):
        """Makes `run` the current one, on a new port; the run before it is over."""
        self.end()
        self.run = run
        self.runtime = serve(self._runtime_handler(run))

    def end(self):
        """The current run's process is gone: held polls hang up, its port closes."""
        if self.run is not None:
            self.run.done.set()
            self.run.ended.set()
        if self.runtime is not None:
            stop(self.runtime)
            self.runtime = None

    def close(self):
        self.end()
        self.dynamodb.shutdown()
        self.dynamodb.server_close()

    def _runtime_handler(emulator, run: Run):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_):
                pass

            def reply(self, status: int, body: bytes = b"", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self.reply(404, b'{"errorType":"NotFound"}')
                with run.lock:
                    first = not run.delivered
                    run.delivered = True
                    if run.first_next is None:
                        run.first_next = time.perf_counter()
                if not first:
                    # No second invocation: hold the poll until the run ends, then hang up.
                    run.ended.wait(timeout=60)
                    self.close_connection = True
                    return
                deadline = int(time.time() * 1000) + 30_000
                self.reply(
                    200,
                    run.event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": run.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": run.arn,
                        "Lambda-Runtime-Trace-Id": "Root=1-6744c3a1-1f2e3d4c5b6a79881a2b3c4d;Parent=53995c3f42cd8ad8;Sampled=0",
                    },
                )

            def do_POST(self):
                body = read_body(self)
                if self.path == f"{PREFIX}/init/error":
                    run.answer("init-error", body)
                elif self.path == f"{PREFIX}/invocation/{run.request_id}/response":
                    run.answer("response", body)
                elif self.path == f"{PREFIX}/invocation/{run.request_id}/error":
                    run.answer("error", body)
                else:
                    return self.reply(404, b'{"errorType":"NotFound"}')
                self.reply(202, b'{"status":"OK"}')

        return Handler

    def _dynamodb_handler(emulator):
        empty = {
            "Query": {"Count": 0, "ScannedCount": 0, "Items": []},
            "Scan": {"Count": 0, "ScannedCount": 0, "Items": []},
            "GetItem": {},
            "BatchGetItem": {"Responses": {}, "UnprocessedKeys": {}},
        }

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_):
                pass

            def setup(self):
                super().setup()
                # A connection belongs to the run during which it was opened.
                self.run = emulator.run

            def do_POST(self):
                read_body(self)
                run = self.run
                if run is not None and run.answered is None:
                    with run.lock:
                        run.dynamodb_calls += 1
                        if run.first_call is None:
                            run.first_call = time.perf_counter()
                op = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                body = json.dumps(empty.get(op, {})).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(body)
                if run is not None and run.answered is None:
                    with run.lock:
                        run.last_reply = time.perf_counter()

        return Handler


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} EVENT.json", file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        event = f.read()
    emulator = Emulator()
    run = Run(event, "by-hand")
    emulator.start(run)
    print(f"AWS_LAMBDA_RUNTIME_API={emulator.runtime_api}")
    print(f"AWS_ENDPOINT_URL_DYNAMODB={emulator.dynamodb_url}", flush=True)
    try:
        run.done.wait()
        print(f"{run.kind}: {run.body.decode(errors='replace')}")
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
