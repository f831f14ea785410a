"""Scenario 1, install: the database pod turns ready, the migration Job exits 0, then the two app
replicas turn ready by their readiness probes; the Job again is a no-op; two at once are safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import REPO

from .kubelet import JobRun
from .release import Release, json_logs, record
from .spec import service_target_port

pytestmark = pytest.mark.pods

MIGRATIONS = len(list((REPO / "service" / "migrations").glob("*.sql")))


def applied(run: JobRun) -> int:
    """How many migrations the Job's last pod applied, from its JSON log."""
    done = [e for e in json_logs(run.logs[-1]) if e.get("message") == "migrations up to date"]
    assert len(done) == 1, run.logs[-1]
    count: int = done[0]["applied"]
    return count


def test_install_database_then_job_then_ready_replicas(release: Release) -> None:
    figures = release.install
    job: JobRun = figures["job"]
    assert job.exit_codes == [0], job.logs[-1]
    assert applied(job) == MIGRATIONS
    # Started app pods wait for the post-install hook: unready, and /readyz says why (no
    # schema yet; or no login yet, where the Job also creates the app's database role).
    assert figures["ready_before_job"] == [False] * release.replicas
    for status, body in figures["readyz_before_job"]:
        checks = body["checks"]
        assert status == 503, body
        assert checks["schema"].startswith("pending migrations") or checks["database"] != "ok"
    assert len(release.api) == release.replicas == 2
    assert all(pod.ready for pod in release.api)
    assert figures["db_ready_s"] <= figures["job_done_s"] <= figures["api_ready_s"]
    record(
        "1 install",
        db_ready_s=figures["db_ready_s"],
        api_started_s=figures["api_started_s"],
        job_seconds=job.seconds,
        job_done_s=figures["job_done_s"],
        api_ready_s=figures["api_ready_s"],
    )


def resolve(release: Release, name: str) -> list[str]:
    """The addresses a name resolves to inside an app pod (its resolver, its network)."""
    script = "import socket, sys; print(*sorted(socket.gethostbyname_ex(sys.argv[1])[2]))"
    command = ("exec", release.api[0].container, "python", "-c", script, name)
    return release.node.docker(*command).stdout.split()


def test_service_names_resolve_to_their_pods(release: Release) -> None:
    assert release.db is not None
    namespace = release.manifests.namespace
    for name in ("user-service-postgresql", f"user-service-postgresql.{namespace}.svc"):
        assert resolve(release, name) == [release.db.ip]
    assert resolve(release, "user-service") == sorted(pod.ip for pod in release.api)
    # Reached by name from inside a pod, on the port the Service's port 80 forwards to.
    service = release.manifests.one("Service", "user-service")
    port = service_target_port(service, service["spec"]["ports"][0]["port"], release.api[0].plan)
    script = "import urllib.request as u; print(u.urlopen('http://user-service:%d/readyz').status)"
    command = ("exec", release.api[1].container, "python", "-c", script % port)
    assert release.node.docker(*command).stdout.strip() == "200"


def test_migration_job_again_is_a_no_op(release: Release) -> None:
    query = "SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version"
    before = release.psql(query)
    run = release.run_migration("again")
    assert run.exit_codes == [0], run.logs[-1]
    assert applied(run) == 0
    assert release.psql(query) == before
    assert all(pod.ready for pod in release.api)
    record("1 install: job again", exit_codes=run.exit_codes, applied=0, seconds=run.seconds)


def test_two_migration_jobs_at_once_are_safe(release: Release) -> None:
    """Two Job pods on one fresh database (the same chart, another database name)."""
    database = "user_service_race"
    release.psql(f'CREATE DATABASE "{database}"')
    race = release.render({"postgresql": {"auth": {"database": database}}})
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda s: release.run_migration(s, race), ("race-a", "race-b")))
    assert [run.exit_codes for run in runs] == [[0], [0]], [run.logs[-1] for run in runs]
    assert runs[0].started < runs[1].ended and runs[1].started < runs[0].ended  # overlapped
    assert sorted(applied(run) for run in runs) == [0, MIGRATIONS]
    assert release.psql("SELECT count(*) FROM schema_migrations", database) == str(MIGRATIONS)
    record(
        "1 install: two jobs at once",
        exit_codes=[run.exit_codes for run in runs],
        applied=[applied(run) for run in runs],
        seconds=[run.seconds for run in runs],
    )
