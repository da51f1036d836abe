"""Ray as a real two-node cluster on 127.0.0.1: `ray start --head` and a second node joined
with `ray start --address=...`, two workers pulling from one store through
`RayExecutor(address)` (what `python -m evaluator worker --executor ray --ray-address ADDR`
builds). Requests run on both nodes; the second node is killed in the middle of a run and that
request finishes on the head node, with every request FINISHED and no result lost. Every Ray
process the test started is stopped by its pid at the end (`ray stop` would also stop other
people's Ray instances on the machine).

Every Ray server listens on 127.0.0.1 only: the head runs with
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (Ray then keeps a node on loopback), and the second node's
`ray start` runs with only Ray's rewrite of 127.0.0.1 to the machine's external address turned
off (tests/ray_cluster_children.py, `ray-start`). The cluster uses its own random auth token
(RAY_AUTH_MODE=token), so nothing else on the machine can join it, and no token file of the
user's is read."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from submissions.record import SubmissionRecord
from submissions.store import FINISHED, Store
from tests.fixtures.stores import RUNDIR_ENV, record_pids

HEAD_IP = "127.0.0.1"

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 300
# seconds each fake run takes: long enough to kill a node in the middle of one
RUN_S = 6.0
REQUESTS = 6
# a slow machine may start a node's agents too late for its raylet (30 s): try again
START_ATTEMPTS = 3


def _free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((host, 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


def _free_range(length: int = 40) -> tuple[int, int]:
    """A block of ports none of which is in use (Ray's worker ports)."""
    for _ in range(50):
        start = 20000 + int.from_bytes(os.urandom(2), "big") % 30000
        free = True
        for port in range(start, start + length):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return start, start + length - 1
    raise RuntimeError("no free block of ports for Ray's workers")


class RayCluster:
    """Two Ray nodes started with `ray start` in one temporary folder (short: Ray puts Unix
    sockets under it); stopped by killing every process whose command line names that
    folder, and the raylet of a node found by its node-manager port."""

    def __init__(self) -> None:
        parent = os.environ.get(RUNDIR_ENV) or None
        self.temp = Path(tempfile.mkdtemp(prefix="mr-", dir=parent if parent else "/tmp"))
        self.port, self.client_port = _free_ports(2)
        self.address = f"{HEAD_IP}:{self.port}"
        self.node_ports: dict[str, int] = {}
        python_path = [str(ROOT), os.environ.get("PYTHONPATH", "")]
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in python_path if p),
            "RAY_USAGE_STATS_ENABLED": "0",
            "OMP_NUM_THREADS": "1",
            # this cluster's own token: nothing else joins it, no token file of the user's
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": os.urandom(16).hex(),
            # drivers (the workers) keep 127.0.0.1 as the head's address
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            # a slow machine: wait longer for a node's agents to register
            "RAY_agent_register_timeout_ms": "300000",
            # notice a dead node within seconds
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
        }

    def _node_args(self, name: str) -> list[str]:
        manager, objects, agent, agent_grpc, runtime_env, metrics = _free_ports(6)
        low, high = _free_range()
        self.node_ports[name] = manager
        return [
            f"--node-ip-address={HEAD_IP}",
            "--num-cpus=1",
            "--num-gpus=0",
            "--object-store-memory=80000000",
            "--disable-usage-stats",
            f"--node-manager-port={manager}",
            f"--object-manager-port={objects}",
            f"--dashboard-agent-listen-port={agent}",
            f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={runtime_env}",
            f"--metrics-export-port={metrics}",
            f"--min-worker-port={low}",
            f"--max-worker-port={high}",
            f'--resources={{"{name}": 1}}',
        ]

    def _start(self, command: list[str], env: dict[str, str]) -> str:
        """Run a `ray start` command; the empty string on success, else its output."""
        try:
            done = subprocess.run(
                command,
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as err:
            return f"timed out after {START_TIMEOUT_S} s: {err.stderr!r}"[-3000:]
        finally:
            record_pids("ray", self.pids())
        return "" if done.returncode == 0 else (done.stdout + done.stderr)[-3000:]

    def start(self) -> RayCluster:
        failures = []
        for _ in range(START_ATTEMPTS):
            failure = self._start(
                [
                    RAY, "start", "--head", f"--port={self.port}",
                    f"--ray-client-server-port={self.client_port}", "--include-dashboard=false",
                    f"--temp-dir={self.temp}", *self._node_args("head"),
                ],
                self.env,
            )  # fmt: skip
            if not failure:
                break
            failures.append(f"head: {failure}")
            self.stop(keep_folder=True)
        else:
            raise RuntimeError("\n\n".join(failures))
        # the second node: `ray start --address=...`, kept on 127.0.0.1
        node_env = {**self.env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}
        for _ in range(START_ATTEMPTS):
            failure = self._start(
                [
                    sys.executable, "-m", "tests.ray_cluster_children", "ray-start",
                    f"--address={self.address}", *self._node_args("second"),
                ],
                node_env,
            )  # fmt: skip
            if not failure:
                return self
            failures.append(f"second node: {failure}")
            with contextlib.suppress(AssertionError):
                self.kill_node("second")
        raise RuntimeError("\n\n".join(failures))

    def pids(self) -> list[int]:
        """Processes of this cluster: their command line names its folder or its ports."""
        marks = [str(self.temp), f"--gcs-address={HEAD_IP}:{self.port}",
                 f"--gcs_server_port={self.port}", f"--address={self.address}"]  # fmt: skip
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                line = _cmdline(int(entry.name))
                if any(mark in line for mark in marks):
                    found.append(int(entry.name))
        return found

    def raylet_pid(self, name: str) -> int:
        flag = f"--node_manager_port={self.node_ports[name]}"
        for pid in self.pids():
            line = _cmdline(pid)
            if "raylet" in line.split(" ", 1)[0] and flag in line:
                return pid
        raise AssertionError(f"no raylet found for node {name}")

    def kill_node(self, name: str) -> None:
        """The node dies at once: its raylet and every process under it get SIGKILL."""
        raylet = self.raylet_pid(name)
        for pid in [*_descendants(raylet), raylet]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self, *, keep_folder: bool = False) -> None:
        for _ in range(3):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        if not keep_folder:
            import shutil

            shutil.rmtree(self.temp, ignore_errors=True)


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _descendants(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return []


def _record(n: int, log: Path) -> SubmissionRecord:
    return SubmissionRecord(
        model_id=f"org/cluster-model-{n}",
        revision="b" * 40,
        model_type="general",
        editor="prompt",
        # canonical form, as validation stores it: JSON (the worker passes it through as text)
        editor_config=json.dumps({"run_log": str(log), "sleep_s": RUN_S}, sort_keys=True),
        config_hash=f"{n:064d}",
        settings=("single",),
        submitter="Ada",
        organisation="Lab",
        contact="ada@example.org",
    )


def _runs(log: Path) -> list[dict[str, str]]:
    if not log.exists():
        return []
    keys = ("event", "model", "setting", "node", "pid", "time")
    return [dict(zip(keys, line.split("|"), strict=True)) for line in log.read_text().splitlines()]


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def ray_cluster():
    cluster = RayCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
    assert cluster.pids() == []


@pytest.mark.timeout(900)
def test_two_workers_use_both_nodes_and_a_killed_node_loses_nothing(ray_cluster, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    log = tmp_path / "runs.log"
    for n in range(REQUESTS):
        store.add_request(_record(n, log))
    env = ray_cluster.env
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ray_cluster_children", url, ray_cluster.address, name],
            cwd=ROOT,
            env=env,
            stdout=open(tmp_path / f"{name}.log", "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )
        for name in ("worker-a", "worker-b")
    ]
    record_pids("ray-workers", [w.pid for w in workers])
    try:
        # both nodes run requests: wait for a run to end on the second node, then kill it in
        # the middle of its next one
        def second_node_ids() -> set[str]:
            runs = _runs(log)
            started = {r["node"] for r in runs if r["event"] == "start"}
            return started if len(started) == 2 else set()

        _wait(second_node_ids, START_TIMEOUT_S, "runs on both nodes")
        runs = _runs(log)
        first_node = runs[0]["node"]

        def a_second_run_on_one_node():
            ends = [r for r in _runs(log) if r["event"] == "end"]
            by_node: dict[str, int] = {}
            for r in ends:
                by_node[r["node"]] = by_node.get(r["node"], 0) + 1
            return by_node if len(by_node) == 2 else None

        _wait(a_second_run_on_one_node, START_TIMEOUT_S, "a finished run on each node")
        head_node = _node_id_of(ray_cluster, "head", log)
        second = next(r["node"] for r in _runs(log) if r["node"] != head_node)

        def running_on_second():
            runs = _runs(log)
            started = [r for r in runs if r["event"] == "start" and r["node"] == second]
            ended = {(r["model"], r["pid"]) for r in runs if r["event"] == "end"}
            live = [r for r in started if (r["model"], r["pid"]) not in ended]
            return live[-1] if live else None

        victim = _wait(running_on_second, START_TIMEOUT_S, "a run in progress on the 2nd node")
        ray_cluster.kill_node("second")
        killed_at = time.time()

        def all_finished():
            rows = store.list_requests()
            return rows if {r.state for r in rows} == {FINISHED} else None

        rows = _wait(all_finished, START_TIMEOUT_S, "every request FINISHED")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
    results = {r.model_id: r.result for r in store.results()}
    assert len(rows) == REQUESTS and len(results) == REQUESTS  # nothing lost
    assert {r.attempts for r in rows} == {1}  # Ray re-ran the task; the queue never retried
    runs = _runs(log)
    ended_on = {r["node"] for r in runs if r["event"] == "end"}
    assert ended_on == {head_node, second}  # requests ran to the end on both nodes
    victim_runs = [r for r in runs if r["model"] == victim["model"]]
    assert [r["event"] for r in victim_runs if r["node"] == second] == ["start"]  # cut short
    rerun = [r for r in victim_runs if r["node"] == head_node]
    assert [r["event"] for r in rerun] == ["start", "end"]
    assert float(rerun[0]["time"]) >= killed_at - 1  # re-run after the kill, on the head
    assert results[victim["model"]]["node_id"] == head_node
    del first_node
    store.close()


def _node_id_of(cluster: RayCluster, name: str, log: Path) -> str:
    """The Ray node id of node `name`: the id in its raylet's command line."""
    line = _cmdline(cluster.raylet_pid(name))
    for part in line.split():
        if part.startswith("--node_id="):
            return part.split("=", 1)[1]
    raise AssertionError(f"no --node_id in the raylet command line of {name}: {line[:300]}")
