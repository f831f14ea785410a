"""A real PgBouncer (Debian's `pgbouncer` package) in front of a local PostgreSQL, as a child:
for the tests behind a pooler (tests/pooler, the failover test) and the benchmark's variant.

Transaction pooling, as CloudNativePG's Pooler runs it. Clients authenticate the way
that Pooler does: PgBouncer looks each role up in the server with auth_query, as `auth_user`,
and logs in to the server with the client's own SCRAM keys. `point_at` moves it to another
server (a config reload: what the failover test does when it promotes the standby).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from service.devdb import SYSTEM_USER, ensure_system_user
from service.processes import free_port, stop_process


class PgBouncerMissing(Exception):
    def __init__(self) -> None:
        super().__init__("pgbouncer is not installed (apt-get install pgbouncer)")


def find_pgbouncer() -> str | None:
    # Debian puts it in /usr/sbin, which a non-root PATH may lack.
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")


class PgBouncer:
    """start() -> port; dsn() for clients; point_at() to move; stop() by its PID."""

    def __init__(
        self,
        server_port: int,
        *,
        auth_user: str,
        auth_password: str,
        default_pool_size: int = 20,
        extra: dict[str, str] | None = None,
    ) -> None:
        binary = find_pgbouncer()
        if binary is None:
            raise PgBouncerMissing
        self.binary = binary
        self.server_port = server_port
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="user-service-pgbouncer-"))
        self._auth_user, self._auth_password = auth_user, auth_password
        self._settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "pool_mode": "transaction",
            "default_pool_size": str(default_pool_size),
            "max_client_conn": "1000",
            "auth_type": "scram-sha-256",
            "auth_file": str(self.root / "userlist.txt"),
            "auth_user": auth_user,
            "admin_users": auth_user,
            "logfile": str(self.root / "pgbouncer.log"),
            "pidfile": "",
            # asyncpg sends it at start; PgBouncer would refuse the unknown startup parameter.
            "ignore_startup_parameters": "extra_float_digits",
            # Quick to notice a dead server, as a failover needs.
            "server_connect_timeout": "2",
            "server_login_retry": "1",
            **(extra or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None
        # PgBouncer refuses to run as root: as root it runs as the embedded server's user.
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def dsn(self, user: str, password: str, database: str = "postgres") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def _write_config(self) -> None:
        # One entry for every database, on the server it currently points at.
        lines = ["[databases]", f"* = host=127.0.0.1 port={self.server_port}", "", "[pgbouncer]"]
        lines += [f"{name} = {value}" for name, value in self._settings.items()]
        config = self.root / "pgbouncer.ini"
        config.write_text("\n".join(lines) + "\n")
        userlist = self.root / "userlist.txt"
        userlist.write_text(f'"{self._auth_user}" "{self._auth_password}"\n')
        for path in (config, userlist):
            path.chmod(0o600)
            if self._run_as is not None:
                shutil.chown(path, self._run_as, self._run_as)

    def start(self, timeout: float = 10.0) -> int:
        if self._run_as is not None:
            ensure_system_user(self._run_as)
            self.root.chmod(0o755)
            shutil.chown(self.root, self._run_as, self._run_as)
        self._write_config()
        switch_user = ["-u", self._run_as] if self._run_as else []
        with (self.root / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(  # noqa: S603 - a fixed binary, a config we wrote
                [self.binary, *switch_user, str(self.root / "pgbouncer.ini")],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start: {self.log_tail()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self.port
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer not listening after {timeout} s: {self.log_tail()}")

    def point_at(self, server_port: int) -> None:
        """Send new server connections to another server (PgBouncer's RELOAD, by SIGHUP): what a
        Kubernetes Service does when CloudNativePG moves the -rw label to the new primary."""
        self.server_port = server_port
        self._write_config()
        if self._process is None:
            raise RuntimeError("pgbouncer is not running")
        self._process.send_signal(signal.SIGHUP)

    def log_tail(self) -> str:
        text = ""
        for name in ("pgbouncer.log", "stderr.log"):
            log = self.root / name
            if log.exists():
                text += log.read_text(errors="replace")[-2000:]
        return text

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, 10.0, signal.SIGINT)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
