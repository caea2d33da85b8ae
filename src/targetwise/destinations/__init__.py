"""Sync destinations: where a live audience's adds and removes go.

``DESTINATIONS`` maps a destination kind to its class; each adapter adds one line. See
``targetwise.destinations.base`` for the interface and docs/syncs.md for the user's view.
"""

from __future__ import annotations

from targetwise.destinations.base import (
    Batch,
    BatchResult,
    Destination,
    Member,
    RetryPolicy,
    send_with_retries,
)
from targetwise.destinations.files import FilesDestination
from targetwise.destinations.google_ads import GoogleCustomerMatchDestination
from targetwise.destinations.hubspot import HubSpotDestination
from targetwise.destinations.klaviyo import KlaviyoDestination
from targetwise.destinations.mailchimp import MailchimpDestination
from targetwise.destinations.meta import MetaCustomAudiencesDestination
from targetwise.destinations.webhook import WebhookDestination, sign_webhook

__all__ = [
    "DESTINATIONS",
    "Batch",
    "BatchResult",
    "Destination",
    "Member",
    "RetryPolicy",
    "destination_kinds",
    "send_with_retries",
    "sign_webhook",
]

DESTINATIONS: dict[str, type[Destination]] = {
    WebhookDestination.kind: WebhookDestination,
    FilesDestination.kind: FilesDestination,
    GoogleCustomerMatchDestination.kind: GoogleCustomerMatchDestination,
    MetaCustomAudiencesDestination.kind: MetaCustomAudiencesDestination,
    KlaviyoDestination.kind: KlaviyoDestination,
    HubSpotDestination.kind: HubSpotDestination,
    MailchimpDestination.kind: MailchimpDestination,
}


def destination_kinds() -> list[str]:
    """The destination kinds ``sync add --destination`` accepts, sorted."""
    return sorted(DESTINATIONS)
