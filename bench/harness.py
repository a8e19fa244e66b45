"""The shared benchmark harness: start Linli under gunicorn, load it with wrk, print a table.

Every benchmark in bench/ is a small script that reuses this module:

    from harness import Scenario, main

    def scenarios(stack, args):            # the stack is up, migrated and seeded
        token = stack.login("bench-reader")  # helpers: login(), flask("users", "grant", ...)
        return [Scenario("GET /api/v1/things", "/api/v1/things", lua=THINGS_LUA,
                         env={"BENCH_TOKEN": token})]

    if __name__ == "__main__":
        main("things", scenarios)

`main()` parses the common options (--db, --connections, --duration, --workers, --threads,
--rounds), starts a `Stack` (database, WeChat sandbox and the app under gunicorn, each on a
free port), runs a `GET /healthz` baseline and every scenario in the same run (interleaved
in rounds), prints requests/s, p50, p99, errors and the ratio of requests/s to /healthz,
saves the figures as JSON under bench/results/ (git-ignored), and stops every process it
started, also on Ctrl-C, SIGTERM or an exception. Pieces usable on their own: `Stack`,
`run_wrk()`, `run_scenarios()` (with `cpu_seconds()` around each run), `format_table()`.

Scenario Lua scripts define only `init(args)` and/or `request()` (wrk's scripting API);
the harness appends `setup`, `response` and `done`, which count non-2xx responses as errors
and print one machine-readable result line. Scripts may use the global `thread_id`
(0, 1, ...; set before `init`) and read their parameters with `os.getenv`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv running this script (.venv/bin)
RESULTS = ROOT / "bench" / "results"

# Appended to every scenario script. setup() and done() run in wrk's main Lua state,
# response() in each thread's state; done() sums the threads' non-2xx counters.
LUA_FOOTER = r"""
local bench_threads = {}
function setup(thread)
  thread:set("thread_id", #bench_threads)
  table.insert(bench_threads, thread)
end
non2xx = 0
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(bench_threads) do bad = bad + t:get("non2xx") end
  local e = summary.errors
  io.write(string.format('BENCH_RESULT {"requests": %.0f, "duration_us": %.0f, '
    .. '"p50_us": %.0f, "p99_us": %.0f, "non2xx": %.0f, "connect": %.0f, "read": %.0f, '
    .. '"write": %.0f, "timeout": %.0f}\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), bad, e.connect, e.read, e.write,
    e.timeout))
end
"""


def wish_keys_sql() -> str:
    """The statement that copies the keys of wishes a generator inserted with SQL (the ORM
    writes them for its own wishes: app.models.wishes.WishKeys)."""
    from app.models.wishes import KEY_COLUMNS

    columns = ", ".join(KEY_COLUMNS)
    return (f"INSERT INTO wish_keys (id, {columns}) SELECT id, {columns} FROM wishes w "
            "WHERE NOT EXISTS (SELECT FROM wish_keys k WHERE k.id = w.id)")


@dataclass
class Scenario:
    name: str                # shown in the table, e.g. "GET /api/v1/me"
    path: str                # URL path the load goes to
    lua: str = ""            # init()/request() for wrk; empty means a plain GET of `path`
    env: dict = field(default_factory=dict)  # read by the script with os.getenv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing and we are root."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found, installing it with apt-get ...", file=sys.stderr)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:
            subprocess.run(["apt-get", "update"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet)
    if not shutil.which("wrk"):
        sys.exit("bench: the load generator wrk is missing; install it "
                 "(`sudo apt-get install wrk`, `brew install wrk`) and run again.")
    return shutil.which("wrk")


def run_wrk(url: str, script: str | Path = "", connections: int = 16, duration: int = 15,
            threads: int = 2, env: dict | None = None) -> dict:
    """Load `url` with wrk; `script` is a Lua file or Lua text (see the module docstring).

    Returns {rps, seconds, p50_ms, p99_ms, requests, errors}; errors counts non-2xx
    responses and socket errors (connect, read, write, timeout) together.
    """
    lua = Path(script).read_text() if isinstance(script, Path) else script
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua + "\n" + LUA_FOOTER)
    try:
        cmd = [ensure_wrk(), f"-t{threads}", f"-c{max(connections, threads)}",
               f"-d{duration}s", "--timeout", "10s", "-s", f.name, url]
        out = subprocess.run(cmd, capture_output=True, text=True,
                             env={**os.environ, **(env or {})})
    finally:
        os.unlink(f.name)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(line.split(" ", 1)[1])
    seconds = r["duration_us"] / 1e6
    return {"rps": r["requests"] / seconds, "seconds": seconds, "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "requests": int(r["requests"]),
            "errors": int(r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"])}


class Stack(contextlib.ExitStack):
    """Database + WeChat sandbox + Linli under gunicorn; everything stops on exit.

    `db` is "postgres" (a throwaway server from scripts/pg-tmp), "sqlite" (a temp file)
    or a DATABASE_URL to use as it is.
    """

    def __init__(self, db: str = "postgres", workers: int = 4, worker_class: str = "sync"):
        super().__init__()
        self.db, self.workers, self.worker_class = db, workers, worker_class
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def __enter__(self):
        super().__enter__()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="linli-bench."))
        self.callback(shutil.rmtree, self.tmp, ignore_errors=True)
        self.database_url = self._database()
        self.callback(self._stop_processes)  # callbacks run last-in first-out: app, db, tmp
        sandbox_port, app_port = free_port(), free_port()
        self.env = {**os.environ, "FLASK_APP": "wsgi", "LINLI_ENV": "production",
                    "DATABASE_URL": self.database_url, "SECRET_KEY": secrets.token_hex(16),
                    "WECHAT_API_BASE": f"http://127.0.0.1:{sandbox_port}/",
                    "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING"}
        self.flask("db", "upgrade")
        self.flask("seed-demo")
        # The sandbox keeps its access tokens in memory: one process, several threads.
        self._spawn("sandbox", "app.wechat.sandbox:create_sandbox_app()", sandbox_port,
                    "-w", "1", "-k", "gthread", "--threads", "8")
        self._wait(f"http://127.0.0.1:{sandbox_port}/sandbox/calls")
        self._spawn("app", "wsgi:app", app_port, "-w", str(self.workers),
                    "-k", self.worker_class)
        self.url = f"http://127.0.0.1:{app_port}"
        self._wait(self.url + "/healthz")

    def _database(self) -> str:
        if self.db == "sqlite":
            return f"sqlite:///{self.tmp / 'bench.sqlite3'}"
        if self.db != "postgres":
            return self.db
        out = subprocess.run([str(ROOT / "scripts" / "pg-tmp"), "start"], check=True,
                             capture_output=True, text=True).stdout
        exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
        self.callback(subprocess.run, [str(ROOT / "scripts" / "pg-tmp"), "stop",
                                       exports["PG_TMP_DIR"]])
        return exports["PG_TMP_URL"]

    def flask(self, *args: str) -> str:
        """Run a `flask` CLI command against this stack's database; returns its output."""
        out = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=self.env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
        return out.stdout

    def login(self, openid: str) -> str:
        """Log a sandbox user in (created if new) and return the bearer token."""
        res = requests.post(self.url + "/api/v1/auth/login",
                            json={"code": f"sandbox:{openid}"}, timeout=10)
        res.raise_for_status()
        return res.json()["token"]

    def _spawn(self, name: str, target: str, port: int, *options: str) -> None:
        log = self.tmp / f"{name}.log"
        # A session of its own: Ctrl-C reaches only us, and we stop it in order.
        with log.open("w") as out:
            proc = subprocess.Popen(
                [str(BIN / "gunicorn"), target, "-b", f"127.0.0.1:{port}", "--log-level",
                 "warning", *options], cwd=ROOT, env=self.env, start_new_session=True,
                stdout=out, stderr=subprocess.STDOUT)
        self.procs.append((proc, log))

    def _wait(self, url: str, timeout: float = 120) -> None:  # a busy machine starts slowly
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc, log in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{log.stem} exited:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=2) as res:
                    if res.status == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout}s")

    def _stop_processes(self) -> None:
        for proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()  # gunicorn stops its workers gracefully on SIGTERM
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def cpu_seconds() -> dict[str, float] | None:
    """CPU seconds (user + system) used so far by the app's gunicorn processes (`wsgi:app`)
    and by PostgreSQL's (server and backends), from /proc; None where there is no /proc.
    Around a wrk run, divided by its requests: what one request costs each side."""
    if not os.path.isdir("/proc"):
        return None
    tick, used = os.sysconf("SC_CLK_TCK"), {"app": 0.0, "db": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read()
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        program = command.split(b"\0", 1)[0]
        kind = "app" if b"wsgi:app" in command else "db" if (
            program.endswith(b"/postgres") or program.startswith(b"postgres:")) else None
        if kind:
            used[kind] += (int(stat[11]) + int(stat[12])) / tick
    return used


def _measured(base_url: str, sc, connections: int, seconds: int, threads: int) -> dict:
    """One wrk run of a scenario, with the CPU the app and the database used meanwhile."""
    before = cpu_seconds()
    r = run_wrk(base_url + sc.path, sc.lua, connections, seconds, threads, sc.env)
    after = cpu_seconds()
    if before and after:
        r.update(app_cpu_s=after["app"] - before["app"], db_cpu_s=after["db"] - before["db"])
    return r


def _per_request_ms(rounds: list[dict], key: str) -> float | None:
    if any(key not in r for r in rounds):
        return None
    return 1000 * sum(r[key] for r in rounds) / max(1, sum(r["requests"] for r in rounds))


def run_scenarios(base_url: str, scenarios: list[Scenario], connections: int = 16,
                  duration: int = 15, threads: int = 2, rounds: int = 3,
                  warmup: int = 2) -> list[dict]:
    """A short warm-up (/healthz, then 1 s of each scenario), then `rounds` rounds of: the
    /healthz baseline, each scenario.

    Each round gives every scenario duration/rounds seconds, so a burst of load from
    elsewhere on the machine hits one round, not one scenario. Per scenario: rps is over
    all rounds, p50 the median and p99 the worst of the rounds, and the ratio the median
    of the per-round ratios to the /healthz run just before it.
    """
    run_wrk(base_url + "/healthz", "", connections, warmup, threads)
    for sc in scenarios:  # first requests pay one-time costs (statement caches, prepares)
        run_wrk(base_url + sc.path, sc.lua, connections, 1, threads, sc.env)
    everything = [Scenario("GET /healthz (baseline)", "/healthz"), *scenarios]
    runs: dict[str, list[dict]] = {sc.name: [] for sc in everything}
    slice_ = max(1, round(duration / rounds))
    for n in range(rounds):
        print(f"  round {n + 1}/{rounds}: {len(everything)} x {slice_}s", file=sys.stderr,
              flush=True)
        baseline = None
        for sc in everything:  # /healthz first
            r = _measured(base_url, sc, connections, slice_, threads)
            baseline = baseline or r["rps"]
            runs[sc.name].append({**r, "ratio": r["rps"] / baseline if baseline else 0.0})
    return [{"scenario": name,
             "rps": sum(r["requests"] for r in rs) / sum(r["seconds"] for r in rs),
             "p50_ms": statistics.median(r["p50_ms"] for r in rs),
             "p99_ms": max(r["p99_ms"] for r in rs),
             "requests": sum(r["requests"] for r in rs),
             "errors": sum(r["errors"] for r in rs),
             "ratio": statistics.median(r["ratio"] for r in rs),
             "app_cpu_ms": _per_request_ms(rs, "app_cpu_s"),
             "db_cpu_ms": _per_request_ms(rs, "db_cpu_s"),
             "rounds": rs} for name, rs in runs.items()]


def format_table(results: list[dict]) -> str:
    """The results as a table; with the CPU a request cost the app and the database (ms)
    when `run_scenarios` could measure it."""
    cpu = all(r.get("app_cpu_ms") is not None for r in results)
    head = f"{'scenario':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} " \
           f"{'vs /healthz':>11}" + (f" {'app cpu ms':>10} {'db cpu ms':>9}" if cpu else "")
    rows = [f"{r['scenario']:<28} {r['rps']:>9.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['errors']:>7d} {r['ratio']:>11.2f}"
            + (f" {r['app_cpu_ms']:>10.2f} {r['db_cpu_ms']:>9.2f}" if cpu else "")
            for r in results]
    return "\n".join([head, "-" * len(head), *rows])


def git_revision() -> str:
    """The commit benchmarked, with "+dirty" when files outside bench/ have changes."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "unknown"
    dirty = git("status", "--porcelain", "--", ".", ":!bench").stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def parse_args(description: str, extra=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--db", default="postgres",
                   help="postgres (throwaway server), sqlite (temp file) or a DATABASE_URL")
    p.add_argument("--connections", type=int, default=16, help="concurrent wrk connections")
    p.add_argument("--duration", type=lambda s: int(s.rstrip("s")), default=15,
                   help="seconds per scenario (15 or 15s)")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers for the app")
    p.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds the duration is split into (1: one run each)")
    if extra:
        extra(p)
    return p.parse_args()


def main(name: str, make_scenarios, description: str = "", extra_args=None) -> None:
    """Parse options, start a Stack, run make_scenarios(stack, args), print and save."""
    args = parse_args(description or f"Linli benchmark: {name}", extra_args)
    # SIGTERM unwinds like Ctrl-C, so the Stack still stops everything it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_wrk()
    db = args.db if args.db in ("postgres", "sqlite") else args.db.split(":", 1)[0]
    # Other busy processes skew every figure (the ratios to /healthz only partly correct
    # that), so the load average before the run is shown and saved with the figures.
    meta = {"bench": name, "revision": git_revision(), **vars(args), "db": db,
            "cpus": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2)}
    print(" ".join(f"{k}={v}" for k, v in meta.items()), file=sys.stderr)
    try:
        with Stack(args.db, args.workers, args.worker_class) as stack:
            scenarios = make_scenarios(stack, args)
            # No scenarios (e.g. bench_incidents.py --only sla): nothing to load.
            results = run_scenarios(stack.url, scenarios, args.connections, args.duration,
                                    args.threads, args.rounds) if scenarios else []
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; every process it started has been stopped")
    if not results:
        return
    print(format_table(results))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{db}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({**meta, "results": results}, indent=2))
    print(f"saved {out.relative_to(ROOT)}", file=sys.stderr)
    if any(r["errors"] for r in results):
        sys.exit("bench: some requests failed; these figures are not valid")
