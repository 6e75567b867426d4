"""Reading a Prometheus exposition in tests: every sample by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared.observability.metrics import Metrics


@dataclass(frozen=True)
class Scrape:
    """The samples of one exposition, parsed by prometheus_client's own parser."""

    values: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return cls(values)

    @classmethod
    def of(cls, metrics: Metrics) -> Scrape:
        return cls.parse(generate_latest(metrics.registry).decode())

    def value(self, name: str, **labels: str) -> float | None:
        """The sample with exactly these labels; None when there is none."""
        return self.values.get((name, frozenset(labels.items())))

    def names(self) -> set[str]:
        return {name for name, _ in self.values}
