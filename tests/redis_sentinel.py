"""A Redis primary, its replica and three Sentinels on loopback, as a deployment with
failover runs them (docs/deployment.md): the tests' stand-in for a managed Redis with
automatic failover. ``failover`` asks the Sentinels for a coordinated one (the primary stops
taking writes, the replica catches up, then takes over); ``kill_primary`` sends SIGKILL and
lets the Sentinels notice (``DOWN_AFTER_MS``) and elect."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from redis import Redis

from notifier.dev import embedded

SERVICE = "notifier"
DOWN_AFTER_MS = 1000  # a primary silent this long is down for a Sentinel


class SentinelGroup:
    def __init__(self, folder: Path, logs: Path) -> None:
        self.folder, self.logs = folder, logs
        folder.mkdir(parents=True, exist_ok=True)
        self.ports = [embedded.free_port() for _ in range(2)]  # the primary's, the replica's
        self.sentinel_ports = [embedded.free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        self.url = f"redis+sentinel://{hosts}/{SERVICE}"

    def up(self) -> None:
        primary, replica = self.ports
        self._server(primary)
        self._server(replica, "--replicaof", "127.0.0.1", str(primary))
        for port in self.sentinel_ports:
            conf = self.folder / f"sentinel-{port}.conf"  # a Sentinel rewrites its own
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
            )
            proc = embedded.spawn(
                [embedded.redis_binary(), str(conf), "--sentinel"],
                self.logs / f"sentinel-{port}.log",
            )
            embedded.wait_port(port, proc)
            self.procs[port] = proc
        embedded.wait_until(lambda: self.replicas_in_sync(primary), "the replica in sync")
        embedded.wait_until(self.sentinels_ready, "the Sentinels knowing the replica, each other")

    def _server(self, port: int, *args: str) -> None:
        command = [embedded.redis_binary(), "--bind", "127.0.0.1", "--port", str(port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder), *args]
        proc = embedded.spawn(command, self.logs / f"redis-{port}.log")
        embedded.wait_port(port, proc)
        self.procs[port] = proc

    def primary(self) -> int:
        """The primary's port, as the Sentinels say."""
        with Redis(port=self.sentinel_ports[0], decode_responses=True) as s:
            _, port = s.sentinel_get_master_addr_by_name(SERVICE)
            return int(port)

    def replicas_in_sync(self, primary: int) -> bool:
        """The replica has loaded the primary's data and follows its stream."""
        with Redis(port=primary, decode_responses=True) as r:
            info = r.info("replication")
            replica = info.get("slave0")
            return (
                info.get("role") == "master"
                and isinstance(replica, dict)
                and replica.get("state") == "online"
                and replica.get("offset") == info.get("master_repl_offset")
            )

    def sentinels_ready(self) -> bool:
        """Each Sentinel knows the replica (it learns of it from the primary's INFO) and the two
        other Sentinels (from their hellos): a failover can then be elected."""
        for port in self.sentinel_ports:
            with Redis(port=port, decode_responses=True) as s:
                state = s.sentinel_master(SERVICE)
                if state.get("num-slaves", 0) < 1 or state.get("num-other-sentinels", 0) < 2:
                    return False
        return True

    def failover(self) -> int:
        """A coordinated failover; the new primary's port once every Sentinel names it."""
        before = self.primary()
        with Redis(port=self.sentinel_ports[0], decode_responses=True) as s:
            s.execute_command("SENTINEL", "FAILOVER", SERVICE)
        return self._new_primary(before)

    def kill_primary(self) -> int:
        """SIGKILL to the primary; the new primary's port once elected and taking writes."""
        before = self.primary()
        self.procs[before].send_signal(signal.SIGKILL)
        self.procs[before].wait()
        return self._new_primary(before)

    def _new_primary(self, before: int) -> int:
        def moved() -> bool:
            try:
                if self.primary() == before:
                    return False
                with Redis(port=self.primary(), decode_responses=True) as r:
                    return r.info("replication").get("role") == "master"
            except Exception:
                return False

        embedded.wait_until(moved, "a new primary")
        return self.primary()

    def down(self) -> None:
        for proc in self.procs.values():
            embedded.stop(proc)
