"""Reading a Prometheus text exposition back, for exact assertions on metric values."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample as (sample name, labels) -> value; a malformed exposition raises."""
    found: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    """One series' value, or None when the exposition doesn't have it."""
    return samples(text).get((name, frozenset(labels.items())))


def series(text: str, name: str) -> dict[Labels, float]:
    """All series of one sample name, by their labels."""
    return {labels: v for (n, labels), v in samples(text).items() if n == name}
