"""Prometheus metrics, in a registry of the app's own (two apps never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tally_http_requests", "HTTP requests answered.", ("method", "route", "status"), registry=self.registry
        )
        self.latency = Histogram(
            "tally_http_request_duration_seconds", "Time to answer a request.", ("method", "route"),
            registry=self.registry,
        )  # fmt: skip
        self.in_flight = Gauge("tally_http_requests_in_flight", "Requests being answered now.", registry=self.registry)
        self.transfers = Counter(
            "tally_transfers", "Transfers by outcome: posted, pending, rejected or a refusal code.", ("outcome",),
            registry=self.registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "tally_batch_size", "Transfers per batch request.", buckets=BATCH_SIZE_BUCKETS, registry=self.registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def transfer_outcome(self, outcome: str) -> None:
        self.transfers.labels(outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
