"""Prometheus metrics (the official client) and what `/health` reports.

Counted in the process: inbound events by channel and outcome, conversation step latency, webhook
latency. Read from the store at each scrape: outbound messages by channel and status, the outbox
backlog and the age of its oldest queued message, broadcasts in progress.
"""

from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from storage import channels
from storage.contract import Store

STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _channel_of(contact_id: str) -> str:
    return contact_id.split(":", 1)[0] if ":" in contact_id else "unknown"


@dataclass
class Backlog:
    """Queued outbound messages of one channel and how long the oldest has waited."""

    queued: int
    oldest_age_seconds: float


@dataclass
class StoreFigures:
    """What one scrape reads from the store."""

    outbound: dict[tuple[str, str], int] = field(default_factory=dict)
    backlog: dict[str, Backlog] = field(default_factory=dict)
    broadcasts_in_progress: int = 0


async def read_store_figures(db: Store, now: datetime) -> StoreFigures:
    """Outbound counts, backlog and broadcasts, from the store (a few grouped reads)."""
    figures = StoreFigures()
    for (channel, status), count in (await channels.outbound_counts(db)).items():
        figures.outbound[(channel or "unknown", status)] = count
    for channel, queued in (await channels.queued_by_channel(db)).items():
        age = max(0.0, (now - queued.oldest).total_seconds())
        figures.backlog[channel or "unknown"] = Backlog(queued.queued, age)
    figures.broadcasts_in_progress = await channels.broadcasts_sending(db)
    return figures


class Metrics:
    """The service's metrics, in a registry of its own (one per service, so tests do not share)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.inbound = Counter(
            "dinsos_inbound_events",
            "Inbound events handled, by channel and outcome (replied, no_reply, error).",
            ["channel", "status"],
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "dinsos_conversation_step_seconds",
            "Time from an inbound event to its replies committed (one conversation step).",
            ["channel"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "dinsos_webhook_seconds",
            "Time to answer a platform webhook request, by channel.",
            ["channel"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.outbound = Gauge(
            "dinsos_outbound_messages",
            "Outbound messages in the outbox, by channel and status.",
            ["channel", "status"],
            registry=self.registry,
        )
        self.backlog = Gauge(
            "dinsos_outbox_backlog",
            "Outbound messages queued and not yet sent, by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.backlog_age = Gauge(
            "dinsos_outbox_oldest_age_seconds",
            "Age of the oldest queued outbound message, by channel (0 when none).",
            ["channel"],
            registry=self.registry,
        )
        self.cosmetic_skipped = Counter(
            "dinsos_telegram_cosmetic_skipped",
            "Cosmetic Telegram calls skipped to keep the send budget for replies, by kind (chosen: the "
            "answer shown under a pressed question; stale: an old keyboard taken away).",
            ["kind"],
            registry=self.registry,
        )
        self.broadcasts = Gauge(
            "dinsos_broadcasts_in_progress",
            "Broadcasts being sent now.",
            registry=self.registry,
        )

    def update(self, figures: StoreFigures) -> None:
        """Set the store-read gauges from one scrape's figures."""
        self.outbound.clear()
        for (channel, status), count in figures.outbound.items():
            self.outbound.labels(channel, status).set(count)
        self.backlog.clear()
        self.backlog_age.clear()
        for channel, backlog in figures.backlog.items():
            self.backlog.labels(channel).set(backlog.queued)
            self.backlog_age.labels(channel).set(backlog.oldest_age_seconds)
        self.broadcasts.set(figures.broadcasts_in_progress)

    def cosmetic_skip(self, kind: str) -> None:
        """Count one skipped cosmetic Telegram call."""
        self.cosmetic_skipped.labels(kind).inc()

    def inbound_done(self, contact_id: str, status: str, seconds: float) -> None:
        """Count one inbound event and time its step."""
        channel = _channel_of(contact_id)
        self.inbound.labels(channel, status).inc()
        self.step_seconds.labels(channel).observe(seconds)
