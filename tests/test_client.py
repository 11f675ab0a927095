"""The client against scripted fake servers: retries, deadlines, typed errors, chunking."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent import futures
from typing import Any, Iterator

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from kme.v1 import answer_pb2, answer_pb2_grpc, common_pb2, knowledge_pb2, knowledge_pb2_grpc
from kme_client import (AsyncKMEClient, DeadlineExceeded, FailedPrecondition, InvalidArgument, KMEClient, KMEError,
                        NotFound, ResourceExhausted, Unauthenticated, Unavailable)

pytestmark = pytest.mark.timeout(60)


class Scripted(knowledge_pb2_grpc.KnowledgeServiceServicer, answer_pb2_grpc.AnswerServiceServicer):
    """Fails the first `fail_first` calls of every method with UNAVAILABLE, then answers."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0, max_batch: int = 1000) -> None:
        self.fail_first = fail_first
        self.delay = delay
        self.max_batch = max_batch
        self.calls: Counter[str] = Counter()
        self.requests: list[Any] = []
        self.abort_with: tuple[grpc.StatusCode, str] | None = None
        self.fail_add_after: int | None = None  # AddFacts requests that succeed before one is refused

    def _enter(self, name: str, context: grpc.ServicerContext) -> None:
        self.calls[name] += 1
        if self.calls[name] <= self.fail_first:
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        if self.abort_with:
            context.abort(*self.abort_with)
        time.sleep(self.delay)

    def GetFact(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetFact", context)
        return knowledge_pb2.GetFactResponse(fact=common_pb2.Fact(id=request.id, subject="s", relation="r", object="o",
                                                                   status=common_pb2.FACT_STATUS_CURRENT))

    def AddFacts(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("AddFacts", context)
        self.requests.append(request)
        if self.fail_add_after is not None and len(self.requests) > self.fail_add_after:
            detail = any_pb2.Any()
            detail.Pack(error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="items[1].fact.object", description="is empty")]))
            context.abort_with_status(rpc_status.to_status(status_pb2.Status(
                code=code_pb2.INVALID_ARGUMENT, message="items[1].fact.object: is empty", details=[detail])))
        start = sum(len(r.items) for r in self.requests[:-1])
        return knowledge_pb2.AddFactsResponse(ids=[start + i + 1 for i in range(len(request.items))],
                                              batch_id=request.batch_id or "batch-1")

    def Rollback(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Rollback", context)
        self.requests.append(request)
        return knowledge_pb2.RollbackResponse(rolled_back=1)

    def DeleteFacts(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("DeleteFacts", context)
        return knowledge_pb2.DeleteFactsResponse(deleted=len(request.ids))

    def ImportFacts(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        self._enter("ImportFacts", context)
        n = sum(len(m.items.items) for m in request_iterator if m.WhichOneof("payload") == "items")
        return knowledge_pb2.ImportFactsResponse(batch_id="b", imported=n)

    def ListFacts(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("ListFacts", context)
        offset = int(request.page_token or 0)
        facts = [common_pb2.Fact(id=i, subject=f"s{i}") for i in range(offset, min(offset + request.page_size, 5))]
        token = str(offset + request.page_size) if offset + request.page_size < 5 else ""
        return knowledge_pb2.ListFactsResponse(facts=facts, next_page_token=token)

    def Stats(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Stats", context)
        return knowledge_pb2.StatsResponse(limits=knowledge_pb2.ServerLimits(max_batch=self.max_batch))

    def Ask(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Ask", context)
        return answer_pb2.AskResponse(answer=f"A:{request.text}", mode=request.mode or answer_pb2.MODE_AUTO)


@pytest.fixture
def scripted() -> Iterator[tuple[Scripted, str]]:
    servicer = Scripted()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    knowledge_pb2_grpc.add_KnowledgeServiceServicer_to_server(servicer, server)
    answer_pb2_grpc.add_AnswerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(0)


def fast_client(target: str, **kw: Any) -> KMEClient:
    client = KMEClient(target, timeout=5, **kw)
    client._retry = type(client._retry)(retries=client._retry.retries, base_s=0.001, cap_s=0.01)  # no slow backoff
    return client


# -- retries ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,name", [
    (lambda c: c.get_fact(3), "GetFact"),
    (lambda c: c.ask("q", mode="none"), "Ask"),
    (lambda c: c.delete([1, 2]), "DeleteFacts"),
    (lambda c: list(c.list_facts(page_size=10)), "ListFacts"),
])
def test_idempotent_calls_are_retried(scripted: tuple[Scripted, str], call: Any, name: str) -> None:
    servicer, target = scripted
    servicer.fail_first = 2
    with fast_client(target) as client:
        call(client)
    assert servicer.calls[name] == 3


@pytest.mark.parametrize("call,name", [
    (lambda c: c.add_facts([{"subject": "s", "relation": "r", "object": "o"}], batch_size=10), "AddFacts"),
    (lambda c: c.rollback("batch-1"), "Rollback"),
    (lambda c: c.import_facts([{"subject": "s", "relation": "r", "object": "o"}], batch_size=10), "ImportFacts"),
])
def test_non_idempotent_calls_are_not_retried(scripted: tuple[Scripted, str], call: Any, name: str) -> None:
    servicer, target = scripted
    servicer.fail_first = 1
    with fast_client(target) as client, pytest.raises(Unavailable, match="try again"):
        call(client)
    assert servicer.calls[name] == 1


def test_retries_give_up(scripted: tuple[Scripted, str]) -> None:
    servicer, target = scripted
    servicer.fail_first = 10
    with fast_client(target, retries=2) as client, pytest.raises(Unavailable):
        client.get_fact(1)
    assert servicer.calls["GetFact"] == 3


def test_unreachable_server_is_unavailable() -> None:
    with fast_client("127.0.0.1:1", retries=1) as client, pytest.raises(Unavailable):
        client.stats()


# -- deadlines and errors -----------------------------------------------------------------------

def test_deadline_exceeded(scripted: tuple[Scripted, str]) -> None:
    servicer, target = scripted
    servicer.delay = 0.5
    with KMEClient(target, timeout=0.1) as client:
        with pytest.raises(DeadlineExceeded):
            client.ask("slow")
        with pytest.raises(TimeoutError):  # DeadlineExceeded is a TimeoutError too
            client.get_fact(1, timeout=0.05)
    assert servicer.calls["Ask"] == 1  # a deadline is the caller's budget: not retried


@pytest.mark.parametrize("code,exc", [
    (grpc.StatusCode.NOT_FOUND, NotFound), (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhausted), (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),
    (grpc.StatusCode.INTERNAL, KMEError),
])
def test_status_codes_map_to_typed_exceptions(scripted: tuple[Scripted, str], code: grpc.StatusCode, exc: type) -> None:
    servicer, target = scripted
    servicer.abort_with = (code, "boom")
    with fast_client(target) as client, pytest.raises(exc, match="boom") as info:
        client.get_fact(1)
    assert info.value.code == code.name and isinstance(info.value, KMEError)


# -- add_facts chunking -------------------------------------------------------------------------

def test_add_facts_uses_the_servers_batch_limit_and_one_batch(scripted: tuple[Scripted, str]) -> None:
    servicer, target = scripted
    servicer.max_batch = 4
    items = [{"prompt": f"P{i} is", "subject": f"P{i}", "target_new": "x", "ground_truth": "y"} for i in range(10)]
    with fast_client(target) as client:
        result = client.add_facts(items)
    assert [len(r.items) for r in servicer.requests] == [4, 4, 2]
    assert [r.batch_id for r in servicer.requests] == ["", "batch-1", "batch-1"]
    assert result.ids == list(range(1, 11)) and result.batch_id == "batch-1"
    assert servicer.requests[0].items[0].edit.ground_truth == "y"


def test_failed_later_chunk_rolls_back_and_names_the_global_item(scripted: tuple[Scripted, str]) -> None:
    servicer, target = scripted
    servicer.fail_add_after = 2
    items = [{"subject": f"s{i}", "relation": "r", "object": "o"} for i in range(7)]
    with fast_client(target) as client, pytest.raises(InvalidArgument) as info:
        client.add_facts(items, batch_size=3)
    assert info.value.violations == [("items[7].fact.object", "is empty")]  # items[1] of the third chunk
    rollback = servicer.requests[-1]
    assert isinstance(rollback, knowledge_pb2.RollbackRequest) and rollback.batch_id == "batch-1"


def test_bad_item_type_is_refused_before_sending(scripted: tuple[Scripted, str]) -> None:
    servicer, target = scripted
    with fast_client(target) as client, pytest.raises(InvalidArgument) as info:
        client.add_facts([{"subject": "s", "relation": "r", "object": 3}])
    assert info.value.violations[0][0] == "items[0].object" and not servicer.calls["AddFacts"]


def test_import_item_error_is_raised_not_cancelled(scripted: tuple[Scripted, str]) -> None:
    _, target = scripted
    with fast_client(target) as client, pytest.raises(InvalidArgument):
        client.import_facts([{"subject": 1}], batch_size=10)


def test_unknown_mode_is_refused(scripted: tuple[Scripted, str]) -> None:
    _, target = scripted
    with fast_client(target) as client, pytest.raises(InvalidArgument, match="unknown mode"):
        client.ask("q", mode="telepathy")


# -- async twin ---------------------------------------------------------------------------------

def test_async_client_retries_and_maps_errors(scripted: tuple[Scripted, str]) -> None:
    servicer, target = scripted

    async def main() -> None:
        async with AsyncKMEClient(target, timeout=5) as client:
            client._retry = type(client._retry)(retries=3, base_s=0.001, cap_s=0.01)
            servicer.fail_first = 2
            assert (await client.ask("q", mode="in-context")).answer == "A:q"
            assert servicer.calls["Ask"] == 3
            with pytest.raises(Unavailable):
                await client.rollback("b")  # fails once, not retried
            assert [f.id async for f in client.list_facts(page_size=2)] == [0, 1, 2, 3, 4]
            servicer.abort_with = (grpc.StatusCode.NOT_FOUND, "gone")
            with pytest.raises(NotFound):
                await client.get_fact(1)

    asyncio.run(main())
