"""kme_client: sync and asyncio clients of the kme service, typed results and exceptions."""
from __future__ import annotations

from kme_client.aio import AsyncKMEClient
from kme_client.errors import (Cancelled, DeadlineExceeded, FailedPrecondition, InvalidArgument, KMEError, NotFound,
                               PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable)
from kme_client.sync import KMEClient
from kme_client.types import (AddResult, AskResult, CandidateScore, EditRequest, Fact, Hit, Hop, ImportResult,
                              ItemError, Mode, ServerLimits, Stats, UsedFact)

__all__ = [
    "AddResult", "AskResult", "AsyncKMEClient", "CandidateScore", "Cancelled", "DeadlineExceeded", "EditRequest",
    "Fact", "FailedPrecondition", "Hit", "Hop", "ImportResult", "InvalidArgument", "ItemError", "KMEClient",
    "KMEError", "Mode", "NotFound", "PermissionDenied", "ResourceExhausted", "ServerLimits", "Stats",
    "Unauthenticated", "Unavailable", "UsedFact",
]
