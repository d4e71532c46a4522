"""Local AWS emulator: moto's server (DynamoDB, SQS, S3, SNS, Secrets Manager
and KMS on one port, routed by moto by request) on loopback. Only DynamoDB
requests are serialized; every other service passes straight through.

Prints `QRPAY_EMULATOR_READY http://127.0.0.1:<port>` once listening.
Started by infra/emulator.sh or directly by the Rust test harness.
"""
import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
import time

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

# moto's threaded server does not apply conditional writes/transactions
# atomically under concurrency; real DynamoDB is atomic per item. So all
# DynamoDB requests are run one at a time.
DYNAMO_LOCK = threading.Lock()


class SerializeDynamoDB:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with DYNAMO_LOCK:
            # Hold the lock until the whole body is produced (moto may be lazy).
            it = self.app(environ, start_response)
            try:
                body = b"".join(it)
            finally:
                if hasattr(it, "close"):
                    it.close()
        return [body]


def watch_parent(pid):
    """Exit the whole process once the spawning process is gone (no orphans)."""
    # If pid is our direct parent, its exit shows at once as a getppid() change,
    # even while it lingers as an unreaped zombie (which kill(pid, 0) still sees).
    direct = os.getppid() == pid
    while True:
        if direct and os.getppid() != pid:
            os._exit(0)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass  # exists, owned by someone else
        time.sleep(0.5)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--parent-pid", type=int, help="exit when this pid is gone")
    args = p.parse_args()

    host = "127.0.0.1" if args.host == "localhost" else args.host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        sys.exit(f"launcher: refusing non-loopback host {args.host!r}")

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # per-request noise

    app = SerializeDynamoDB(DomainDispatcherApplication(create_backend_app))
    # Same server setup as moto_server (threaded, moto's request handler).
    server = make_server(host, args.port, app, threaded=True,
                         request_handler=MotoRequestHandler)
    port = server.socket.getsockname()[1]  # real port when --port 0
    os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs from it

    def on_signal(*_):
        # shutdown() blocks until serve_forever returns, so call it off-thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()

    h = f"[{host}]" if ":" in host else host
    print(f"QRPAY_EMULATOR_READY http://{h}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
