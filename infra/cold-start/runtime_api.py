"""A minimal AWS Lambda Runtime API on loopback that times cold starts.

N rounds, each binary once a round: start it with AWS_LAMBDA_RUNTIME_API pointing
here, time init (process start -> its first GET .../invocation/next) and
the first answer (the event handed over -> its POST .../response), then kill
it. Prints one table: binary size, median init and first answer, and the
ratio of init to the hello-world baseline's.

    runtime_api.py --runs N --env-json FILE --override K=V ... \
        NAME=BINARY[:EVENT_FILE] ...

The first NAME=BINARY is the baseline (hello world: no env entry needed).
Each function's environment is its entry in env.json (the same file
`sam local invoke --env-vars` takes) with the overrides on top (the
emulator's resources and endpoint). Standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
REQUEST_ID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
# Stops a run that never answers (a hung binary must not hang the script).
RUN_TIMEOUT_S = 30


class Run:
    """What one start of one binary did, with perf_counter() times."""

    def __init__(self, event):
        self.event = event
        self.started = None
        self.first_next = None
        self.event_sent = None
        self.answered = None
        self.answer = None
        self.error = None
        self.done = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        run = self.server.run
        if self.path != f"{PREFIX}/invocation/next":
            self.reply(404)
            return
        if run.first_next is not None:
            # The next invocation never comes: the driver kills the process.
            run.done.wait(RUN_TIMEOUT_S)
            return
        run.first_next = time.perf_counter()
        deadline_ms = int(time.time() * 1000) + 10_000
        self.reply(200, run.event, [
            ("Content-Type", "application/json"),
            ("Lambda-Runtime-Aws-Request-Id", REQUEST_ID),
            ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn",
             "arn:aws:lambda:us-east-1:123456789012:function:cold-start"),
            ("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"),
        ])
        run.event_sent = time.perf_counter()

    def do_POST(self):
        run = self.server.run
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.perf_counter()
        self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
        if self.path == f"{PREFIX}/invocation/{REQUEST_ID}/response":
            run.answered, run.answer = now, body
        else:  # .../init/error or .../invocation/{id}/error
            run.error = f"{self.path}: {body.decode(errors='replace')}"
        run.done.set()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A killed binary drops its waiting connection: expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def one_run(binary, env, event):
    """One start of `binary`, with its own server: a request from an earlier
    process (killed while it asked for its next event) cannot land here."""
    run = Run(event)
    server = Server(("127.0.0.1", 0), Handler)
    server.run = run
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    full_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    run.started = time.perf_counter()
    proc = subprocess.Popen([binary], env=full_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = run.started + RUN_TIMEOUT_S
    while not run.done.is_set() and proc.poll() is None and time.perf_counter() < deadline:
        run.done.wait(0.005)
    proc.kill()
    output, _ = proc.communicate()
    run.done.set()  # releases a waiting second GET
    server.shutdown()
    server.server_close()
    if run.answered is None:
        tail = (run.error or output.decode(errors="replace")[-2000:]).strip()
        raise SystemExit(f"cold-start: {binary} gave no answer (exit {proc.returncode}): {tail}")
    return run


def answer_summary(answer):
    """The answer's HTTP status (and error code) when it is an HTTP answer."""
    try:
        value = json.loads(answer)
    except ValueError:
        return "?"
    if isinstance(value, dict) and "statusCode" in value:
        code = ""
        try:
            code = " " + json.loads(value.get("body") or "{}").get("error", {}).get("code", "")
        except (ValueError, AttributeError):
            pass
        return f"{value['statusCode']}{code}".strip()
    return "ok"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--env-json", required=True)
    parser.add_argument("--override", action="append", default=[])
    parser.add_argument("targets", nargs="+")
    args = parser.parse_args()
    with open(args.env_json) as f:
        env_json = json.load(f)
    overrides = dict(o.split("=", 1) for o in args.override)
    base_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    base_env.update({
        # What Lambda sets for every function (dummy credentials: the
        # emulator takes any; init must not look for more).
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/cold-start",
        "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start", "RUST_LOG": "info",
    })

    targets = []
    for target in args.targets:
        name, _, rest = target.partition("=")
        binary, _, event_file = rest.partition(":")
        env = dict(base_env)
        if targets:  # a function, not the baseline
            logical_id = next((k for k in env_json
                               if k.lower() == name.replace("-", "") + "function"), None)
            if logical_id is None:
                raise SystemExit(f"cold-start: {name} has no entry in {args.env_json}")
            env.update(env_json[logical_id])
            env.update(overrides)
        event = b"{}"
        if event_file:
            with open(event_file, "rb") as f:
                event = f.read()
        targets.append((name, binary, event_file, env, event, []))
    # Round by round, every binary once a round: a machine busy with other
    # work slows them all alike, and the ratios hold.
    for _ in range(args.runs):
        for _, binary, _, env, event, runs in targets:
            runs.append(one_run(binary, env, event))
    print(f"cold-start: {args.runs} rounds done", file=sys.stderr)

    rows, baseline = [], None
    for name, binary, event_file, _, _, runs in targets:
        init = statistics.median((r.first_next - r.started) * 1000 for r in runs)
        answer = statistics.median((r.answered - r.event_sent) * 1000 for r in runs)
        baseline = baseline or init
        size = os.path.getsize(binary) / (1 << 20)
        event_name = os.path.basename(event_file) if event_file else "{}"
        rows.append((name, f"{size:.1f}", f"{init:.2f}", f"{answer:.2f}",
                     f"{init / baseline:.2f}x", f"{event_name} -> {answer_summary(runs[0].answer)}"))

    header = ("function", "MiB", "init ms", "1st answer ms", "init/hello", "event -> answer")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print(f"median of {args.runs} runs; init = process start to first GET /invocation/next")
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
