"""Measuring a committed service/ rather than a work tree that someone may be editing.

`--service-ref REF` re-runs the whole command from a directory holding `git archive REF service`
and a link to this bench/. `python -m` puts the current directory first on sys.path, so the
bench, the service processes it starts and the migrations all import that commit's service.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_MARK = "BENCH_SERVICE_COMMIT"


def _git(*args: str) -> bytes:
    return subprocess.run(  # noqa: S603 - fixed program, our arguments
        ["git", "-C", str(REPO), *args],  # noqa: S607 - git from PATH
        capture_output=True,
        check=True,
    ).stdout


def reexec_if_asked(args: list[str]) -> None:
    """Called before anything imports `service`: the work tree's copy may not even import."""
    if os.environ.get(_MARK):
        return  # already running on the snapshot
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--service-ref")
    ref = parser.parse_known_args(args)[0].service_ref
    if ref:
        _reexec_on(ref, args)


def checkout(ref: str) -> tuple[str, Path]:
    """The commit `ref` names, and a directory holding its service/ (and a link to this bench/),
    from which `python -m service` runs that commit's code."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    target = REPO / "bench-results" / f".service-{commit[:12]}"
    if not (target / "service").is_dir():
        with tarfile.open(fileobj=io.BytesIO(_git("archive", commit, "service"))) as archive:
            archive.extractall(target, filter="data")
    if not (target / "bench").exists():
        (target / "bench").symlink_to(REPO / "bench")
    return commit, target


def _reexec_on(ref: str, args: list[str]) -> None:
    commit, target = checkout(ref)
    env = {**os.environ, _MARK: commit, "BENCH_CWD": os.getcwd()}
    print(f"bench: measuring service/ at {ref} ({commit[:12]})", file=sys.stderr, flush=True)
    os.chdir(target)
    os.execve(sys.executable, [sys.executable, "-m", "bench", *args], env)  # noqa: S606


def user_path(path: Path) -> Path:
    """A path from the command line, relative to where the user ran it (before any re-run)."""
    return Path(os.environ.get("BENCH_CWD", ".")) / path


def describe() -> str:
    """Which service code this run measures, for the report."""
    commit = os.environ.get(_MARK)
    if commit:
        return f"commit {commit[:12]} (--service-ref)"
    try:
        head = _git("rev-parse", "--short=12", "HEAD").decode().strip()
        dirty = _git("status", "--porcelain", "--", "service").strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"work tree at {head}" + (" with uncommitted changes to service/" if dirty else "")
