"""A local model of how Lambda runs a function, for the cold-start and soak benchmarks.

- A minimal Runtime API on 127.0.0.1, one per process, that hands out a fixed number of events
  and records when each was handed out and answered.
- A CPU-quota cgroup (v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, or v2 `cpu.max`): the process
  joins it before it execs, with no limit, and the quota of its memory size (memory/1769 of one
  CPU) is set when it first polls `/runtime/invocation/next`. So init runs at full CPU and the
  invokes at the memory size's share, as published measurements of on-demand functions show.
- Peak and current RSS from /proc/<pid>/status, CPU time from /proc/<pid>/task/*/schedstat.
"""

import http.server
import json
import os
import signal
import socket
import threading
import time

MB_PER_VCPU = 1769


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


class Invocations:
    """What one process is handed and what it answers: `count` events, then a poll that waits
    until the process is killed."""

    def __init__(self, event, count, on_first_poll=None, rss_every=0, pid=None):
        self.event = event
        self.count = count
        self.on_first_poll = on_first_poll
        self.rss_every = rss_every
        self.pid = pid
        self.lock = threading.Lock()
        self.handed = 0
        self.answered = 0
        self.first_poll_at = None
        self.first_poll_cpu_ns = None
        self.handed_at = [0.0] * count
        self.answered_at = [0.0] * count
        self.statuses = [None] * count
        self.first_body = None
        self.first_answer_cpu_ns = None
        self.rss_samples = []  # (invocations answered, VmRSS KiB)
        self.error = None
        self.timed_out = False
        self.done = threading.Event()
        self.closed = threading.Event()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            return self.send_error(404)
        inv = self.server.invocations
        with inv.lock:
            if inv.first_poll_at is None:
                inv.first_poll_at = time.perf_counter()
                if inv.pid:
                    inv.first_poll_cpu_ns = cpu_ns(inv.pid)
                if inv.on_first_poll:
                    inv.on_first_poll()
            index = inv.handed
            last = index >= inv.count or inv.timed_out
            if not last:
                inv.handed += 1
        if last:
            # Long poll: the process is killed before another event would come.
            inv.closed.wait(120)
            return
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json\r\n"
            f"Lambda-Runtime-Aws-Request-Id: request-{index}\r\n"
            f"Lambda-Runtime-Deadline-Ms: {int(time.time() * 1000) + 30_000}\r\n"
            "Lambda-Runtime-Invoked-Function-Arn: "
            "arn:aws:lambda:us-east-1:123456789012:function:bench\r\n"
            "Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n"
            f"Content-Length: {len(inv.event)}\r\n\r\n"
        ).encode()
        inv.handed_at[index] = time.perf_counter()
        self.wfile.write(head + inv.event)  # one write: see Server.get_request

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.perf_counter()
        inv = self.server.invocations
        parts = self.path.split("/")
        if self.path.endswith("/response") and parts[-2].startswith("request-"):
            index = int(parts[-2].removeprefix("request-"))
            inv.answered_at[index] = now
            answer = json.loads(body)
            inv.statuses[index] = answer.get("statusCode")
            if index == 0:
                inv.first_body = answer.get("body")
                if inv.pid:
                    inv.first_answer_cpu_ns = cpu_ns(inv.pid)
            inv.answered += 1
            answered = index + 1
            if inv.pid and (answered == 1 or answered == inv.count or
                            (inv.rss_every and answered % inv.rss_every == 0)):
                inv.rss_samples.append((answered, read_status_kib(inv.pid, "VmRSS")))
            if answered == inv.count:
                inv.done.set()
        else:
            inv.error = f"{self.path}: {body[:300]!r}"
            inv.done.set()
        self.wfile.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")


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
    process runs at full CPU until its first poll, then at memory_mb's share. Returns the
    Invocations record, the start time and the peak RSS (KiB). After `timeout` seconds the
    process is stopped: an error, or with `partial_ok` a record of what it answered so far.

    `join_at_first_poll` moves the process into the group at its first poll instead of before
    exec. Moving a process between cgroups can wait for an RCU grace period (about 14 ms here),
    which then delays the first event: a cost of the harness, not of Lambda; kept to compare."""
    inv = Invocations(event, count, rss_every=rss_every)
    if share:
        share.unlimited()
        if join_at_first_poll:
            def on_first_poll():
                share.limit(memory_mb)
                share.join(inv.pid)
            inv.on_first_poll = on_first_poll
        else:
            inv.on_first_poll = lambda: share.limit(memory_mb)
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
                with inv.lock:
                    inv.timed_out = True  # no further events
                inv.rss_samples.append((inv.answered, read_status_kib(pid, "VmRSS")))
                return inv, started, read_status_kib(pid, "VmHWM")
            raise SystemExit(f"{argv[-1]}: {inv.answered} of {count} events answered after {timeout} s")
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
        inv.closed.set()
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
