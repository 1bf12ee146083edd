"""Cold start: exec of a fresh release binary to its first 200 answer, and its peak RSS.

Each run starts the binary as a new process under a minimal Lambda Runtime API served here on
127.0.0.1, hands it one API Gateway event and waits for its answer. Runs alternate between our
function and the hello-world yardstick (benches/hello, built the same way), so both see the
same machine state; compare the ratio of their medians, not absolute times.

Usage: coldstart.py FUNCTION HELLO EVENT_JSON [--runs N] [--warmup N]
The environment must point FUNCTION at a seeded table (TABLE_NAME, AWS_ENDPOINT_URL_DYNAMODB, …).
Each process gets the environment Lambda would give it plus those variables, not the whole
environment of this shell; COLDSTART_INHERIT_ENV=1 passes this shell's on as well.
"""

import argparse
import http.server
import json
import os
import statistics
import subprocess
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("function")
parser.add_argument("hello")
parser.add_argument("event")
parser.add_argument("--runs", type=int, default=51)
parser.add_argument("--warmup", type=int, default=3)
args = parser.parse_args()
EVENT = open(args.event, "rb").read()


class Run:
    """One invocation: the event is handed out once, the answer is awaited once."""

    def __init__(self):
        self.handed_out = False
        self.answered = threading.Event()
        self.answer_at = None
        self.polled_at = None
        self.status = None


lock = threading.Lock()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            return self.send_error(404)
        run = self.server.run
        with lock:
            first = not run.handed_out
            run.handed_out = True
            run.polled_at = run.polled_at or time.perf_counter()
        if not first:
            # Long poll: the process is killed before another event would come.
            run.answered.wait(60)
            time.sleep(60)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", "coldstart-request")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(EVENT)))
        self.end_headers()
        self.wfile.write(EVENT)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.perf_counter()
        run = self.server.run
        if self.path.endswith("/response"):
            run.status = json.loads(body).get("statusCode")
        else:
            run.status = f"error {self.path}: {body[:200]!r}"
        run.answer_at = now
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        run.answered.set()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a killed process resets its long poll: expected


def start_server(run):
    """A Runtime API of its own for each run, so that a late poll of a killed process can
    never take the next process's event."""
    server = Server(("127.0.0.1", 0), RuntimeApi)
    server.run = run
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# What the function's configuration passes on (template.yaml), and the local stand-ins for
# DynamoDB and the role's credentials.
PASSED_ON = ["TABLE_NAME", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL",
             "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"]


def lambda_environment(runtime_api):
    """The process environment Lambda gives a provided.al2023 function, not this shell's: a
    developer's RUST_LOG or SSL_CERT_DIR would change what is measured."""
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env.update(AWS_LAMBDA_RUNTIME_API=runtime_api,
               AWS_DEFAULT_REGION=env.get("AWS_REGION", "us-east-1"),
               AWS_LAMBDA_FUNCTION_NAME="bench",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_INITIALIZATION_TYPE="on-demand",
               AWS_LAMBDA_LOG_STREAM_NAME="bench",
               AWS_LAMBDA_LOG_GROUP_NAME="bench",
               AWS_LAMBDA_LOG_FORMAT="JSON",
               AWS_LAMBDA_LOG_LEVEL="INFO",
               AWS_EC2_METADATA_DISABLED="true",
               LAMBDA_TASK_ROOT="/var/task",
               LAMBDA_RUNTIME_DIR="/var/runtime",
               LANG="en_US.UTF-8",
               TZ=":UTC",
               PATH="/usr/local/bin:/usr/bin/:/bin:/opt/bin")
    if os.environ.get("COLDSTART_INHERIT_ENV"):
        env = dict(os.environ, **env)
    return env


def cold_start(binary):
    current = Run()
    server = start_server(current)
    env = lambda_environment(f"127.0.0.1:{server.server_address[1]}")
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not current.answered.wait(30):
            raise SystemExit(f"{binary} did not answer within 30 s")
        rss = peak_rss_kib(process.pid)
    finally:
        process.kill()
        process.wait()
        server.shutdown()
        server.server_close()
    if current.status != 200:
        raise SystemExit(f"{binary} answered {current.status}")
    init_ms = (current.polled_at - started) * 1000
    return (current.answer_at - started) * 1000, rss / 1024, init_ms


# Unmeasured runs first: each process measured is still cold, but dynalite (a Node.js server)
# has compiled its GetItem and Query paths by then, so its JIT warm-up is not counted as ours.
for _ in range(args.warmup):
    cold_start(args.hello)
    cold_start(args.function)

results = {"function": [], "hello": []}
for _ in range(args.runs):
    results["hello"].append(cold_start(args.hello))
    results["function"].append(cold_start(args.function))


def summary(name, runs):
    times = [t for t, _, _ in runs]
    rss = [r for _, r, _ in runs]
    init = [i for _, _, i in runs]
    return (f"| {name} | {statistics.median(times):.1f} | {min(times):.1f} | {max(times):.1f} "
            f"| {statistics.median(init):.1f} | {statistics.median(rss):.1f} | {max(rss):.1f} |")


print(f"cold start, exec to first 200 answer, {args.runs} runs each, alternating, "
      f"after {args.warmup} unmeasured")
print("| binary | median ms | min ms | max ms | median ms to first poll (init) | median peak RSS MB | max peak RSS MB |")
print("| --- | --- | --- | --- | --- | --- | --- |")
print(summary("api-tokens (100-item page from dynalite)", results["function"]))
print(summary("hello world (lambda_http)", results["hello"]))
ratio = statistics.median(t for t, _, _ in results["function"]) / statistics.median(t for t, _, _ in results["hello"])
print(f"ratio of medians: {ratio:.2f}x (target: at most 4x); "
      f"peak RSS at most {max(r for _, r, _ in results['function']):.1f} MB (target: at most 20 MB)")
