"""A bounded load on the standard profile: `make load` (not part of `make test`).

`LOAD_RUNS` flow runs (default 120) of one ECS deployment are created through the balancer by 8 client
threads, each request on a connection of its own (so the round-robin spreads them over both API
replicas), while the worker polls the work pool and calls RunTask on the emulator for each. 120 is
about two minutes here: enough for the worker to take several polls' worth and for the pools and Redis
to reach a steady peak, short enough to run before a change. Measured and written to
`bench/load-results.json`: runs created and submitted per minute, the latency from a run's creation to
its ECS task (when ListTasks first shows it), the peak of PostgreSQL connections by application_name
(sampled each 0.5 s), Redis's peak memory, the errors (must be none) and that every run got exactly one
ECS task.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.prefect.conftest import PrefectRun
from tests.conformance.prefect.test_prefect_runs import _call, _wait

pytestmark = pytest.mark.load

RUNS = int(os.environ.get("LOAD_RUNS", "120"))
CLIENTS = 8
RESULTS = Path(__file__).resolve().parents[3] / "bench" / "load-results.json"


def _redis_peak_memory(prefect_run: PrefectRun) -> int:
    redis = prefect_run.platform.redis
    assert redis is not None
    result = subprocess.run(
        ["redis-cli", "--tls", "--cacert", str(redis.ca.bundle), "-h", "127.0.0.1", "-p", str(redis.port),
         "--no-auth-warning", "-a", redis.password, "INFO", "memory"],
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    return int(fields["used_memory_peak"])


@pytest.mark.parametrize("prefect_run", ["standard"], indirect=True)
def test_flow_runs_created_through_the_replicas_all_reach_run_task(prefect_run: PrefectRun) -> None:
    postgres = prefect_run.platform.postgres
    assert postgres is not None
    variables = prefect_run.job_variables()
    first = prefect_run.prefect_client("submit", prefect_run.config.prefect.work_pool, json.dumps(variables))
    auth = prefect_run.auth_string
    base = "http://127.0.0.1:4200"
    status, run = _call(base, "GET", f"/flow_runs/{first['flow_run_id']}", None, auth=auth)
    assert status == 200, run
    deployment = run["deployment_id"]

    peaks: Counter[str] = Counter()
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            rows = postgres.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = 'prefect' "
                "GROUP BY application_name",
                "postgres",
            )
            for name, count in rows:
                peaks[str(name) or "(none)"] = max(peaks[str(name) or "(none)"], int(str(count)))
            time.sleep(0.5)

    ecs = prefect_run.aws("ecs")
    cluster = variables["cluster"]
    first_seen: dict[str, float] = {}

    def watch_run_task() -> None:
        # The emulator's tasks carry no createdAt: a task's RunTask time is when ListTasks first shows it
        # (polled each 0.5 s, so latencies are up to 0.5 s late).
        while not sampling.is_set():
            for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster):
                for arn in page["taskArns"]:
                    first_seen.setdefault(arn, time.time())
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    watcher = threading.Thread(target=watch_run_task, daemon=True)
    watcher.start()
    created: dict[str, float] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def create(_: int) -> None:
        status, body = _call(
            base, "POST", f"/deployments/{deployment}/create_flow_run", {}, auth=auth, timeout=60
        )
        with lock:
            if status in (200, 201):
                created[body["id"]] = time.time()
            else:
                errors.append(f"{status}: {str(body)[:200]}")

    began = time.time()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(create, range(RUNS)))
    creation_seconds = time.time() - began

    def tasks_by_run() -> dict[str, list[dict[str, Any]]]:
        arns: list[str] = []
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster):
            arns += page["taskArns"]
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(arns), 100):
            described = ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100], include=["TAGS"])
            for task in described["tasks"]:
                tags = {tag["key"]: tag["value"] for tag in task.get("tags", [])}
                found.setdefault(tags.get("prefect.io/flow-run-id", ""), []).append(task)
        return found

    def all_submitted() -> dict[str, list[dict[str, Any]]] | None:
        found = tasks_by_run()
        return found if all(run_id in found for run_id in created) else None

    tasks = _wait(all_submitted, timeout=600, what=f"RunTask for all {len(created)} flow runs")
    sampling.set()
    sampler.join()
    watcher.join()
    submitted = {run_id: first_seen[tasks[run_id][0]["taskArn"]] for run_id in created}
    latencies = sorted(submitted[run_id] - created_at for run_id, created_at in created.items())
    submitted_at = sorted(submitted.values())
    duplicates = {run_id: len(tasks[run_id]) for run_id in created if len(tasks[run_id]) != 1}
    figures = {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "runs": RUNS,
        "clients": CLIENTS,
        "api_replicas": len(prefect_run.api_addresses()),
        "balancer_connections": list(prefect_run.balancer.connections) if prefect_run.balancer else [],
        "created_per_minute": round(len(created) / creation_seconds * 60, 1),
        "submitted_per_minute": round(len(created) / max(submitted_at[-1] - began, 1e-6) * 60, 1),
        "latency_p50_seconds": round(statistics.median(latencies), 2),
        "latency_p95_seconds": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "peak_connections_by_application": dict(sorted(peaks.items())),
        "peak_connections_total_of_sums": sum(peaks.values()),
        "redis_used_memory_peak_bytes": _redis_peak_memory(prefect_run),
        "errors": errors,
        "runs_without_exactly_one_task": duplicates,
    }
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
    assert not errors, errors
    assert len(created) == RUNS
    assert not duplicates, duplicates
