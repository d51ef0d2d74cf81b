"""``/metrics``: the gateway's counters in the Prometheus text format (prometheus-client).

Counters are read from the server at scrape time (a custom collector over the SMS
transports' and the router's statistics), so nothing is counted twice and the hot path
does no extra work. The only metric recorded as it happens is the latency of device
operations made through this API, per bearer.

Names: ``lwm2m_sms_sms_{sent,received}_total`` count CoAP messages carried by SMS (one
per message, however many segments), ``lwm2m_sms_segments_{sent,received}_total`` the SMS
segments the network carried; both are labelled by the server's own number on each
bearer (``msisdn``) and the bearer's kind.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .stack import RunningGateway
from ..lwm2m.binding import BINDINGS

__all__ = ["GatewayMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _StackCollector(Collector):
    def __init__(self, stack: RunningGateway) -> None:
        self.stack = stack

    def collect(self) -> Iterable[Metric]:
        labels = ["bearer", "msisdn"]
        families = {
            "sms_sent": CounterMetricFamily("lwm2m_sms_sms_sent", "CoAP messages sent by SMS", labels=labels),
            "sms_received": CounterMetricFamily("lwm2m_sms_sms_received", "CoAP messages received by SMS", labels=labels),
            "seg_sent": CounterMetricFamily("lwm2m_sms_segments_sent", "SMS segments sent", labels=labels),
            "seg_received": CounterMetricFamily("lwm2m_sms_segments_received", "SMS segments received", labels=labels),
            "failures": CounterMetricFamily("lwm2m_sms_delivery_failures", "SMS the bearer refused or reported undelivered", labels=labels),
            "dropped": CounterMetricFamily("lwm2m_sms_dropped", "incoming SMS dropped before CoAP, by reason", labels=labels + ["reason"]),
        }
        for transport in self.stack.sms:
            t = transport.stats().total
            bearer = str(getattr(transport.bearer, "kind", "sms"))
            values = [bearer, str(transport.local_msisdn or "")]
            families["sms_sent"].add_metric(values, t.messages_sent)
            families["sms_received"].add_metric(values, t.messages_received)
            families["seg_sent"].add_metric(values, t.sms_sent)
            families["seg_received"].add_metric(values, t.sms_received)
            families["failures"].add_metric(values, t.failures)
            for reason in ("garbage", "untrusted", "too_large"):
                families["dropped"].add_metric(values + [reason], getattr(t, f"dropped_{reason}"))
        yield from families.values()

        regs = GaugeMetricFamily("lwm2m_sms_registrations", "registered devices by binding", labels=["binding"])
        by_binding = Counter(r.binding for r in self.stack.server.registrations())
        for binding in BINDINGS:
            regs.add_metric([binding], by_binding.get(binding, 0))
        yield regs

        depth = GaugeMetricFamily("lwm2m_sms_queue_requests", "requests in the queue by state", labels=["state"])
        counts = self.stack.router.queue.counts()
        for state in ("queued", "sent", "answered", "expired", "failed"):
            depth.add_metric([state], counts.get(state, 0))
        yield depth

        s = self.stack.router.stats
        sent = CounterMetricFamily("lwm2m_sms_requests_sent", "device requests sent, by bearer", labels=["bearer"])
        sent.add_metric(["udp"], s.sent_udp)
        sent.add_metric(["sms"], s.sent_sms)
        yield sent
        yield CounterMetricFamily("lwm2m_sms_wake_ups", "SMS wake-ups (/1/x/8) sent", value=s.wake_ups)
        yield CounterMetricFamily("lwm2m_sms_wake_up_failures", "SMS wake-ups not answered 2.04", value=s.wake_up_failures)
        yield CounterMetricFamily("lwm2m_sms_queue_expired", "queued requests expired", value=s.expired)
        yield CounterMetricFamily("lwm2m_sms_us_fallbacks", "US requests resent by SMS", value=s.us_fallbacks)


class GatewayMetrics:
    """The registry behind ``/metrics`` (its own, not prometheus-client's global one, so
    two servers in one process do not collide)."""

    def __init__(self, stack: RunningGateway) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StackCollector(stack))
        self.latency = Histogram(
            "lwm2m_sms_request_latency_seconds", "device operations through the API, answered, by bearer",
            ["bearer"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )

    def observe_latency(self, bearer: str, seconds: float) -> None:
        self.latency.labels(bearer=bearer).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
