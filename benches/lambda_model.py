"""A local model of how Lambda runs a function, for the cold-start and soak benchmarks.

- A minimal Runtime API on 127.0.0.1, one per process, that hands out a fixed number of events
  and records when each was handed out and answered.
- The Extensions API beside it, as Lambda has it for the extensions a function registers from
  its own process (internal extensions): `POST /2020-01-01/extension/register` (header
  `Lambda-Extension-Name`, answered with `Lambda-Extension-Identifier` and the function's name,
  version and handler) and `GET /2020-01-01/extension/event/next`, which hands each extension
  registered for INVOKE every event as it goes to the runtime. As on Lambda, init ends, and the
  first event goes out, once the runtime and every registered extension have called `next`; an
  invocation ends when the runtime has answered and it and every extension have called `next`
  again: only then can Lambda freeze the environment, and the next event goes out no earlier.
  So an invocation has two ends: its *answer* (what the caller waits for) and its *busy* end,
  the last `next` (what Lambda bills). Without extensions they are the answer and the runtime's
  next poll just after it.
- A CPU-quota cgroup (v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, or v2 `cpu.max`): the process
  joins it before it execs, with no limit, and the quota of its memory size (memory/1769 of one
  CPU) is set when init ends, before the first event goes out. So init runs at full CPU and the
  invokes, and what extensions do after each answer, at the memory size's share, as published
  measurements of on-demand functions show.
- Peak and current RSS from /proc/<pid>/status, CPU time from /proc/<pid>/task/*/schedstat.
"""

import http.server
import json
import os
import signal
import socket
import threading
import time
import uuid

MB_PER_VCPU = 1769
ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench"
TRACE = "Root=1-00000000-000000000000000000000000"


def read_status_kib(pid, field):
    """VmHWM (peak RSS) or VmRSS of a live process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_ns(pid):
    """CPU time of a process's live threads, in ns."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


class CpuShare:
    """One CPU-quota cgroup; each process joins it, then its memory size's quota is applied."""

    def __init__(self, name, period_us):
        self.period_us = period_us
        v2_controllers = "/sys/fs/cgroup/cgroup.controllers"
        if os.path.exists(v2_controllers):
            self.v2 = True
            if "cpu" not in open("/sys/fs/cgroup/cgroup.subtree_control").read().split():
                with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as control:
                    control.write("+cpu")
            self.path = f"/sys/fs/cgroup/{name}"
        elif os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
            self.v2 = False
            self.path = f"/sys/fs/cgroup/cpu/{name}"
        else:
            raise SystemExit("no cgroup CPU controller: neither v2 cpu.max nor v1 /sys/fs/cgroup/cpu")
        os.makedirs(self.path, exist_ok=True)
        if not self.v2:
            self._write("cpu.cfs_period_us", str(period_us))
        self.unlimited()

    def _write(self, name, value):
        with open(f"{self.path}/{name}", "w") as f:
            f.write(value)

    def unlimited(self):
        if self.v2:
            self._write("cpu.max", f"max {self.period_us}")
        else:
            self._write("cpu.cfs_quota_us", "-1")

    def limit(self, memory_mb):
        """memory/1769 of one CPU. Writing the quota also refills the group's budget, so each
        process starts its first invoke with a full period's worth, whatever ran before."""
        quota = max(1000, round(self.period_us * memory_mb / MB_PER_VCPU))
        if self.v2:
            self._write("cpu.max", f"{quota} {self.period_us}")
        else:
            self._write("cpu.cfs_quota_us", str(quota))

    def join(self, pid):
        self._write("cgroup.procs", str(pid))

    def throttled_ms(self):
        """Time the group's processes spent throttled so far, in ms."""
        with open(f"{self.path}/cpu.stat") as stat:
            fields = dict(line.split() for line in stat if line.strip())
        if "throttled_usec" in fields:
            return int(fields["throttled_usec"]) / 1000
        return int(fields.get("throttled_time", 0)) / 1e6

    def remove(self):
        try:
            for pid in open(f"{self.path}/cgroup.procs").read().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for _ in range(100):
                try:
                    os.rmdir(self.path)
                    return
                except OSError:
                    time.sleep(0.02)
        except FileNotFoundError:
            pass


class Extension:
    """One registered extension: how many events it was handed, and how many it has finished
    (called `next` again after)."""

    def __init__(self, name, events):
        self.name = name
        self.invoke = "INVOKE" in events
        self.ready = False  # waiting in `next`, done with every event it was handed
        self.seen = 0
        self.finished = 0


class Invocations:
    """What one process is handed and what it answers: `count` events, then a poll that waits
    until the process is killed. Times are time.perf_counter() values; 0 for not yet."""

    def __init__(self, event, count, on_init_done=None, rss_every=0, pid=None, throttled=None):
        self.event = event
        self.count = count
        self.on_init_done = on_init_done
        self.rss_every = rss_every
        self.pid = pid
        self.throttled = throttled  # the CPU group's throttled time so far, ms, if any
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.handed = 0
        self.answered = 0
        self.extensions = {}  # identifier -> Extension
        self.first_poll_at = None  # the runtime's first `next`
        self.init_done_at = None  # the runtime's and every extension's first `next`
        self.init_cpu_ns = None
        self.handed_at = [0.0] * count
        self.deadline_ms = [0] * count
        self.answered_at = [0.0] * count
        self.runtime_next_at = [0.0] * count  # the runtime's `next` after its answer
        self.extensions_next_at = [0.0] * count  # the last extension's `next` after the event
        self.busy_until = [0.0] * count  # the last of all: the environment may freeze
        self.statuses = [None] * count
        self.first_body = None
        self.first_answer_cpu_ns = None
        self.first_busy_cpu_ns = None
        self.first_answer_throttled_ms = None
        self.first_busy_throttled_ms = None
        self.rss_samples = []  # (invocations answered, VmRSS KiB)
        self.error = None
        self.timed_out = False
        self.done = threading.Event()
        self.closed = threading.Event()

    def settle(self, index):
        """With the lock held: if invocation `index` has ended (answered, and the runtime and
        every extension have called `next` since), notes when, and whether all have."""
        if self.busy_until[index] or not self.answered_at[index] or not self.runtime_next_at[index]:
            return
        if any(e.invoke and e.finished <= index for e in self.extensions.values()):
            return
        self.busy_until[index] = max(self.answered_at[index], self.runtime_next_at[index],
                                     self.extensions_next_at[index])
        if index == 0 and self.pid:
            self.first_busy_cpu_ns = cpu_ns(self.pid)
            if self.throttled:
                self.first_busy_throttled_ms = self.throttled()
        if index == self.count - 1:
            self.done.set()

    def close(self):
        with self.changed:
            self.closed.set()
            self.changed.notify_all()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def reply(self, status, body=b"", headers=()):
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers)
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.wfile.write(head.encode() + body)  # one write: see Server.get_request

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            return self.runtime_next()
        if self.path.endswith("/extension/event/next"):
            return self.extension_next()
        return self.send_error(404)

    def runtime_next(self):
        inv = self.server.invocations
        with inv.changed:
            now = time.perf_counter()
            if inv.first_poll_at is None:
                inv.first_poll_at = now
            elif inv.handed and not inv.runtime_next_at[inv.handed - 1]:
                inv.runtime_next_at[inv.handed - 1] = now
                inv.settle(inv.handed - 1)
            # The next event goes out once every extension has called `next` too.
            inv.changed.wait_for(lambda: inv.closed.is_set() or inv.timed_out or
                                 all(e.ready for e in inv.extensions.values()))
            index = inv.handed
            last = index >= inv.count or inv.timed_out or inv.closed.is_set()
            if not last:
                inv.handed += 1
                for extension in inv.extensions.values():
                    extension.ready = not extension.invoke  # each INVOKE one gets this event
                if index == 0:
                    inv.init_done_at = time.perf_counter()
                    if inv.pid:
                        inv.init_cpu_ns = cpu_ns(inv.pid)
                    if inv.on_init_done:
                        inv.on_init_done()
                inv.deadline_ms[index] = int(time.time() * 1000) + 30_000
                inv.handed_at[index] = time.perf_counter()
                inv.changed.notify_all()
        if last:
            # Long poll: the process is killed before another event would come.
            inv.closed.wait(120)
            return
        self.reply("200 OK", inv.event, [
            ("Lambda-Runtime-Aws-Request-Id", f"request-{index}"),
            ("Lambda-Runtime-Deadline-Ms", inv.deadline_ms[index]),
            ("Lambda-Runtime-Invoked-Function-Arn", ARN),
            ("Lambda-Runtime-Trace-Id", TRACE)])

    def extension_next(self):
        inv = self.server.invocations
        with inv.changed:
            now = time.perf_counter()
            extension = inv.extensions.get(self.headers.get("Lambda-Extension-Identifier"))
            if extension is None:
                return self.reply("403 Forbidden", json.dumps({
                    "errorMessage": "unknown extension identifier",
                    "errorType": "Extension.InvalidExtensionId"}).encode())
            extension.ready = True
            if extension.seen > extension.finished:
                index = extension.seen - 1
                extension.finished = extension.seen
                inv.extensions_next_at[index] = max(inv.extensions_next_at[index], now)
                inv.settle(index)
            inv.changed.notify_all()
            inv.changed.wait_for(lambda: inv.closed.is_set() or
                                 (extension.invoke and inv.handed > extension.seen))
            if inv.closed.is_set():
                return
            index = extension.seen
            extension.seen += 1
        self.reply("200 OK", json.dumps({
            "eventType": "INVOKE", "deadlineMs": inv.deadline_ms[index],
            "requestId": f"request-{index}", "invokedFunctionArn": ARN,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": TRACE}}).encode(),
            [("Lambda-Extension-Event-Identifier", uuid.uuid4())])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.perf_counter()
        inv = self.server.invocations
        parts = self.path.split("/")
        if self.path.endswith("/extension/register"):
            return self.register(body)
        if self.path.endswith("/response") and parts[-2].startswith("request-"):
            index = int(parts[-2].removeprefix("request-"))
            answer = json.loads(body)
            with inv.changed:
                inv.answered_at[index] = now
                inv.statuses[index] = answer.get("statusCode")
                if index == 0:
                    inv.first_body = answer.get("body")
                    if inv.pid:
                        inv.first_answer_cpu_ns = cpu_ns(inv.pid)
                    if inv.throttled:
                        inv.first_answer_throttled_ms = inv.throttled()
                inv.answered += 1
                answered = index + 1
                if inv.pid and (answered == 1 or answered == inv.count or
                                (inv.rss_every and answered % inv.rss_every == 0)):
                    inv.rss_samples.append((answered, read_status_kib(inv.pid, "VmRSS")))
                inv.settle(index)
        else:
            # An invocation's or init's error, or an extension's (init/error, exit/error).
            inv.error = f"{self.path}: {body[:300]!r}"
            inv.done.set()
        self.wfile.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")

    def register(self, body):
        """An extension registers; only during init, as on Lambda."""
        inv = self.server.invocations
        name = self.headers.get("Lambda-Extension-Name")
        try:
            events = json.loads(body or b"{}").get("events", [])
        except ValueError:
            events = None
        with inv.changed:
            if inv.handed or not name or events is None:
                return self.reply("403 Forbidden" if inv.handed else "400 Bad Request", json.dumps({
                    "errorMessage": "registration after init" if inv.handed else "bad registration",
                    "errorType": "Extension.InvalidRegistration"}).encode())
            identifier = str(uuid.uuid4())
            inv.extensions[identifier] = Extension(name, events)
        self.reply("200 OK", json.dumps({
            "functionName": "bench", "functionVersion": "$LATEST",
            "handler": "bootstrap"}).encode(), [("Lambda-Extension-Identifier", identifier)])


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        # Each answer goes out in one write, and without Nagle's algorithm: else a small write
        # can wait for the client's delayed ACK, 40 ms.
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def handle_error(self, request, client_address):
        pass  # a killed process resets its long poll: expected


def launch(argv, env, share=None, log=None, forked=None):
    """Forks, lets the child join the CPU group while it waits on a pipe, then starts the clock
    and lets it exec: the cgroup move is not counted, the exec and everything after it is.
    `forked(pid)` runs before the child may exec."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only system calls until exec
        try:
            os.close(write_end)
            os.read(read_end, 1)
            sink = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(sink, 1)
            os.dup2(sink, 2)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(read_end)
    if forked:
        forked(pid)
    if share:
        share.join(pid)
    started = time.perf_counter()
    os.write(write_end, b"x")
    os.close(write_end)
    return pid, started


def run_process(argv, env_for, event, count=1, share=None, memory_mb=None, timeout=30,
                rss_every=0, log=None, partial_ok=False, join_at_first_poll=False):
    """Runs one process for `count` invocations under its own Runtime API. With `share`, the
    process runs at full CPU until init ends, then at memory_mb's share. Returns the
    Invocations record, the start time and the peak RSS (KiB), once the last invocation has
    ended (its answer, and every `next` after it). After `timeout` seconds the process is
    stopped: an error, or with `partial_ok` a record of what it answered so far.

    `join_at_first_poll` moves the process into the group when init ends (its first poll, or
    its extensions' if later) instead of before exec. Moving a process between cgroups can wait
    for an RCU grace period (about 14 ms here), which then delays the first event: a cost of
    the harness, not of Lambda; kept to compare."""
    inv = Invocations(event, count, rss_every=rss_every,
                      throttled=share.throttled_ms if share else None)
    if share:
        share.unlimited()
        if join_at_first_poll:
            def on_init_done():
                share.limit(memory_mb)
                share.join(inv.pid)
            inv.on_init_done = on_init_done
        else:
            inv.on_init_done = lambda: share.limit(memory_mb)
    server = Server(("127.0.0.1", 0), RuntimeApi)
    server.invocations = inv
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = env_for(f"127.0.0.1:{server.server_address[1]}")
    pid = None
    try:
        pid, started = launch(argv, env, None if join_at_first_poll else share, log,
                              forked=lambda child: setattr(inv, "pid", child))
        if not inv.done.wait(timeout):
            if partial_ok and inv.answered > 1:
                with inv.changed:
                    inv.timed_out = True  # no further events
                    inv.changed.notify_all()
                inv.rss_samples.append((inv.answered, read_status_kib(pid, "VmRSS")))
                return inv, started, read_status_kib(pid, "VmHWM")
            ended = sum(1 for t in inv.busy_until if t)
            raise SystemExit(f"{argv[-1]}: {inv.answered} of {count} events answered, {ended} "
                             f"ended (every `next` after it) after {timeout} s")
        if inv.error:
            raise SystemExit(f"{argv[-1]} reported an error: {inv.error}")
        peak_kib = read_status_kib(pid, "VmHWM")
    finally:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        inv.close()
        server.shutdown()
        server.server_close()
        if share:
            share.unlimited()
    return inv, started, peak_kib


# What the function's configuration passes on (template.yaml), and the local stand-ins for
# DynamoDB, its CA and the role's credentials.
PASSED_ON = ["TABLE_NAME", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "SSL_CERT_FILE",
             "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"]


def lambda_environment(runtime_api, memory_mb=128, overrides=None):
    """The process environment Lambda gives a provided.al2023 function, not this shell's: a
    developer's RUST_LOG or SSL_CERT_DIR would change what is measured. `overrides` (endpoint,
    CA bundle) win over this shell's values; None removes a variable."""
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env.update(AWS_LAMBDA_RUNTIME_API=runtime_api,
               AWS_DEFAULT_REGION=env.get("AWS_REGION", "us-east-1"),
               AWS_LAMBDA_FUNCTION_NAME="bench",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(memory_mb),
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
