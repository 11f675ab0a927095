"""The gRPC servicers in-process on a localhost port, over fake store and engine objects."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from google.rpc import error_details_pb2

from kme.v1 import answer_pb2, answer_pb2_grpc, common_pb2, knowledge_pb2, knowledge_pb2_grpc
from kme_client import (DeadlineExceeded, FailedPrecondition, InvalidArgument, KMEClient, NotFound,
                        ResourceExhausted, Unauthenticated, Unavailable)
from kme_server.answers import AskResult, CandidateScore, GenerationOptions, Hop, Mode
from kme_server.app import create_server
from kme_server.settings import Settings, settings_from_args
from kme_store.errors import FieldError, ImportAborted, NotFoundError, ReadOnlyError
from kme_store.facts import Fact, FactStatus, Hit, ImportSummary, LineError, coerce_fact

pytestmark = pytest.mark.timeout(60)


# -- fakes --------------------------------------------------------------------------------------

@dataclass
class AddResult:
    ids: list[int]
    batch_id: str


@dataclass
class FakeStore:
    """An in-memory store with the façade's signatures and the edit semantics that matter here."""

    facts: dict[int, Fact] = field(default_factory=dict)
    read_only: bool = False
    write_delay: float = 0.0
    closed: bool = False
    batches: int = 0

    def add(self, items: Sequence[Any], batch_id: str | None = None, source: str | None = None) -> AddResult:
        if self.read_only:
            raise ReadOnlyError("the store is open read-only")
        facts = [coerce_fact(i) for i in items]
        time.sleep(self.write_delay)
        if batch_id is None:
            self.batches += 1
            batch_id = f"b{self.batches}"
        ids = []
        for fact in facts:
            fid = len(self.facts) + 1
            self.facts[fid] = replace(fact, id=fid, batch_id=batch_id, source=fact.source or source)
            ids.append(fid)
        return AddResult(ids, batch_id)

    def import_records(self, records: Any, batch_id: str | None = None, strict: bool = False,
                       progress: Any = None) -> ImportSummary:
        good, errors = [], []
        for line, rec in records:
            (errors if isinstance(rec, LineError) else good).append(rec)
        if strict and errors:
            raise ImportAborted(errors)
        result = self.add(good, batch_id=batch_id) if good else AddResult([], batch_id or "empty")
        return ImportSummary(batch_id=result.batch_id, imported=len(good), skipped=len(errors), errors=errors)

    def import_file(self, path: str, format: str | None = None, strict: bool = False, progress: Any = None) -> ImportSummary:
        assert format in (None, "jsonl") and str(path).endswith(".jsonl")
        records: list[tuple[int, Any]] = []
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            try:
                records.append((n, coerce_fact(json.loads(line))))
            except FieldError as exc:
                records.append((n, LineError(n, exc.field, exc.reason)))
        return self.import_records(records, strict=strict)

    def get(self, fact_id: int) -> Fact:
        if fact_id not in self.facts:
            raise NotFoundError(f"no fact with id {fact_id}")
        return self.facts[fact_id]

    def list_facts(self, subject: str | None = None, relation: str | None = None, batch_id: str | None = None,
                   status: FactStatus = FactStatus.CURRENT, offset: int = 0, limit: int = 100) -> list[Fact]:
        rows = [f for f in self.facts.values() if f.status == status and (subject is None or f.subject == subject)
                and (relation is None or f.relation == relation) and (batch_id is None or f.batch_id == batch_id)]
        return rows[offset:offset + limit]

    def retrieve(self, query: str, k: int = 5, threshold: float | None = None) -> list[Hit]:
        hits = [Hit(fact=f, score=0.9, subject_match=1.0, mention=f.subject)
                for f in self.facts.values() if f.subject.lower() in query.lower()]
        return hits[:k]

    def delete(self, ids: Sequence[int]) -> int:
        if self.read_only:
            raise ReadOnlyError("the store is open read-only")
        n = 0
        for i in ids:
            if i in self.facts and self.facts[i].status == FactStatus.CURRENT:
                self.facts[i] = replace(self.facts[i], status=FactStatus.DELETED)
                n += 1
        return n

    def rollback(self, target: int | str) -> int:
        hit = [i for i, f in self.facts.items() if (f.batch_id == target if isinstance(target, str) else i == target)]
        if not hit:
            raise NotFoundError(f"no edit or batch {target!r}")
        for i in hit:
            self.facts[i] = replace(self.facts[i], status=FactStatus.ROLLED_BACK)
        return len(hit)

    def stats(self) -> dict[str, Any]:
        return {"facts": len(self.facts), "index": {"kind": "flat", "vectors": len(self.facts)}}

    def close(self) -> None:
        self.closed = True


class FakeEngine:
    """Answers by echo; `delay` makes calls slow; records whether a stream was closed early."""

    def __init__(self, ready: bool = True, delay: float = 0.0) -> None:
        self.is_ready = ready
        self.delay = delay
        self.stream_closed = threading.Event()
        self.pieces_made = 0

    def ready(self) -> bool:
        return self.is_ready

    def ask(self, text: str, mode: Mode | None, options: GenerationOptions | None) -> AskResult:
        time.sleep(self.delay)
        self.last = (mode, options)
        mode, options = mode or Mode.AUTO, options or GenerationOptions()
        fact = Fact("Paris", "capital of", "France", id=7)
        return AskResult(answer=f"echo {text}", mode=Mode.IN_CONTEXT if mode == Mode.AUTO else mode, facts=[fact],
                         chain=[Hop("Paris", "capital of", "France", "store", 7)], prompt_tokens=3,
                         completion_tokens=options.max_new_tokens, timings_ms={"generate": 1.5})

    def stream(self, text: str, mode: Mode | None, options: GenerationOptions | None) -> Iterator[str | AskResult]:
        options = options or GenerationOptions()
        try:
            for i in range(options.max_new_tokens):
                time.sleep(self.delay)
                self.pieces_made += 1
                yield f"t{i} "
            yield self.ask(text, mode, options)
        except GeneratorExit:
            self.stream_closed.set()
            raise

    def score(self, prompt: str, candidates: Sequence[str], mode: Mode | None) -> list[CandidateScore]:
        return [CandidateScore(c, -float(len(c)), len(c)) for c in candidates]


class Running:
    """A server on its own event loop thread, so that tests can call it with blocking clients."""

    def __init__(self, settings: Settings, store: Any, engine: Any = None, engine_factory: Any = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self.run(create_server(settings, store=store, engine=engine, engine_factory=engine_factory))
        self.target = f"127.0.0.1:{self.server.port}"

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self, grace: float = 0.0) -> None:
        self.run(self.server.stop(grace))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path, port=0, **kw)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def served(tmp_path: Path, store: FakeStore) -> Iterator[Running]:
    running = Running(settings(tmp_path, max_batch=3), store, FakeEngine())
    yield running
    running.stop()


@pytest.fixture
def client(served: Running) -> Iterator[KMEClient]:
    with KMEClient(served.target, timeout=10) as c:
        yield c


# -- conversion ---------------------------------------------------------------------------------

def test_add_get_list_retrieve_roundtrip(client: KMEClient) -> None:
    result = client.add_facts([
        {"subject": "Paris", "relation": "capital of", "object": "France", "relation_id": "P1376"},
        {"prompt": "The mother tongue of Danielle Darrieux is", "subject": "Danielle Darrieux",
         "target_new": "English", "ground_truth": "French"},
    ])
    assert result.ids == [1, 2] and result.batch_id == "b1"
    fact = client.get_fact(1)
    assert (fact.subject, fact.relation, fact.object, fact.relation_id) == ("Paris", "capital of", "France", "P1376")
    assert fact.status == "current" and fact.text.endswith("France.")  # Fact.sentence()
    edit = client.get_fact(2)
    assert edit.object == "English" and edit.template == "The mother tongue of {} is"
    hits = client.retrieve("Where is Paris?", k=3)
    assert [h.fact.id for h in hits] == [1] and hits[0].mention == "Paris"


def test_add_facts_splits_under_the_batch_limit_into_one_batch(client: KMEClient, store: FakeStore) -> None:
    result = client.add_facts([{"subject": f"S{i}", "relation": "r", "object": "o"} for i in range(8)])
    assert result.ids == list(range(1, 9))
    assert {f.batch_id for f in store.facts.values()} == {result.batch_id}
    assert client.rollback(result.batch_id) == 8


def test_list_facts_pages(client: KMEClient) -> None:
    client.add_facts([{"subject": f"S{i}", "relation": "r", "object": "o"} for i in range(5)])
    assert [f.subject for f in client.list_facts(page_size=2)] == [f"S{i}" for i in range(5)]
    assert [f.id for f in client.list_facts(subject="S3")] == [4]


def test_stats_carry_store_numbers_and_limits(client: KMEClient) -> None:
    client.add_facts([{"subject": "a", "relation": "r", "object": "o"}])
    stats = client.stats()
    assert stats.counts["facts"] == 1 and stats.info["index.kind"] == "flat"
    assert stats.limits.max_batch == 3 and stats.engine_ready


def test_ask_and_score(client: KMEClient, served: Running) -> None:
    result = client.ask("Where is Paris?", mode="auto", max_new_tokens=5)
    assert result.answer == "echo Where is Paris?" and result.mode.value == "in_context"
    assert result.facts[0].id == 7 and result.facts[0].text.endswith("France.")
    assert result.chain[0].fact_id == 7 and result.timings == {"generate": 1.5}
    assert client.ask("q", mode="none").mode.value == "none"
    engine = served.server.engine.engine
    assert engine.last == (Mode.NONE, None)  # nothing set: the engine's own defaults apply
    client.ask("q", stop="?")
    assert engine.last[1] == GenerationOptions(max_new_tokens=16, stop=("?",))
    scores = client.score("The capital of France is", [" Paris", " Lyon!"])
    assert [(s.candidate, s.logprob) for s in scores] == [(" Paris", -6.0), (" Lyon!", -6.0)]


def test_ask_stream_tokens_then_result(client: KMEClient) -> None:
    events = list(client.ask_stream("hi", max_new_tokens=3))
    assert events[:3] == ["t0 ", "t1 ", "t2 "] and events[3].answer == "echo hi"


def test_import_items_reports_bad_items_with_index_and_field(client: KMEClient) -> None:
    items = [{"subject": "a", "relation": "r", "object": "o"}, {"subject": "b", "relation": "r"},
             {"subject": "c", "relation": "r", "object": "o"}, {"subject": "d", "relation": "r", "object": "o"}]
    seen: list[int] = []
    result = client.import_facts(items, batch_size=2, progress=lambda done, total: seen.append(done))
    assert (result.imported, result.skipped) == (3, 1)
    assert [(e.index, e.field) for e in result.errors] == [(1, "object")]
    assert seen == [2, 4]


def test_import_file_chunks(client: KMEClient, tmp_path: Path) -> None:
    path = tmp_path / "facts.jsonl"
    path.write_text("\n".join(json.dumps({"subject": f"S{i}", "relation": "r", "object": "o"}) for i in range(3)))
    result = client.import_facts(path)
    assert result.imported == 3 and not list((tmp_path / "tmp").iterdir())  # the spool file is removed


# -- error mapping ------------------------------------------------------------------------------

def test_field_error_is_invalid_argument_with_bad_request_details(served: Running) -> None:
    with grpc.insecure_channel(served.target) as channel:
        stub = knowledge_pb2_grpc.KnowledgeServiceStub(channel)
        bad = common_pb2.FactInput(fact=common_pb2.Fact(subject="Paris", relation="capital of"))
        with pytest.raises(grpc.RpcError) as info:
            stub.AddFacts(knowledge_pb2.AddFactsRequest(items=[common_pb2.FactInput(fact=common_pb2.Fact(
                subject="a", relation="r", object="o")), bad]), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    assert [(v.field, v.description) for v in detail.field_violations] == [("items[1].fact.object", "is empty")]


def test_client_raises_invalid_argument_naming_the_item(client: KMEClient) -> None:
    items = [{"subject": f"S{i}", "relation": "r", "object": "o"} for i in range(4)]
    items.append({"prompt": "Who is X?", "subject": "Y", "target_new": "Z"})  # subject not in prompt
    with pytest.raises(InvalidArgument) as info:
        client.add_facts(items)  # the bad item is in the second request: its index must be global
    assert info.value.violations[0][0] == "items[4].edit.prompt"
    assert "items[4].edit.prompt" in str(info.value)


def test_partial_add_is_rolled_back(client: KMEClient, store: FakeStore) -> None:
    items = [{"subject": f"S{i}", "relation": "r", "object": "o"} for i in range(4)] + [{"subject": "x"}]
    with pytest.raises(InvalidArgument):
        client.add_facts(items)
    assert all(f.status == FactStatus.ROLLED_BACK for f in store.facts.values())


def test_not_found(client: KMEClient) -> None:
    with pytest.raises(NotFound, match="no fact with id 99"):
        client.get_fact(99)
    with pytest.raises(NotFound):
        client.rollback("nope")


def test_batch_over_the_limit_is_resource_exhausted(served: Running) -> None:
    with grpc.insecure_channel(served.target) as channel:
        stub = knowledge_pb2_grpc.KnowledgeServiceStub(channel)
        item = common_pb2.FactInput(fact=common_pb2.Fact(subject="a", relation="r", object="o"))
        with pytest.raises(grpc.RpcError) as info:
            stub.AddFacts(knowledge_pb2.AddFactsRequest(items=[item] * 4), timeout=5)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "limit is 3" in info.value.details()


def test_import_message_over_the_limit_is_resource_exhausted(client: KMEClient) -> None:
    with pytest.raises(ResourceExhausted):
        client.import_facts([{"subject": "a", "relation": "r", "object": "o"}] * 4, batch_size=4)


def test_strict_import_aborted_lists_every_bad_line(client: KMEClient) -> None:
    items = [{"subject": "a", "relation": "r"}, {"subject": "b", "relation": "r", "object": "o"}, {"relation": "r", "object": "o"}]
    with pytest.raises(InvalidArgument) as info:
        client.import_facts(items, strict=True)
    assert [f for f, _ in info.value.violations] == ["line[0].object", "line[2].subject"]


def test_read_only_store_is_failed_precondition(client: KMEClient, store: FakeStore) -> None:
    store.read_only = True
    with pytest.raises(FailedPrecondition, match="read-only"):
        client.delete([1])


def test_bad_mode_and_empty_text_are_refused(served: Running) -> None:
    with grpc.insecure_channel(served.target) as channel:
        stub = answer_pb2_grpc.AnswerServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Ask(answer_pb2.AskRequest(text=" "), timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as info:
            stub.Ask(answer_pb2.AskRequest(text="q", mode=42), timeout=5)
        assert "mode" in info.value.details()


# -- engine pool, deadlines, streaming ----------------------------------------------------------

def test_full_queue_is_resource_exhausted(tmp_path: Path, store: FakeStore) -> None:
    running = Running(settings(tmp_path, workers=1, max_queue=1), store, FakeEngine(delay=0.5))
    try:
        with KMEClient(running.target, timeout=10) as c:
            slow = threading.Thread(target=c.ask, args=("first",))
            slow.start()
            time.sleep(0.15)
            with pytest.raises(ResourceExhausted, match="limit is 1"):
                c.ask("second")
            slow.join()
            assert c.ask("third").answer == "echo third"  # the slot is free again
    finally:
        running.stop()


def test_deadline_exceeded(tmp_path: Path, store: FakeStore) -> None:
    running = Running(settings(tmp_path), store, FakeEngine(delay=0.5))
    try:
        with KMEClient(running.target, timeout=0.2, retries=0) as c, pytest.raises(DeadlineExceeded):
            c.ask("slow")
    finally:
        running.stop()


def test_cancelled_stream_stops_decoding(tmp_path: Path, store: FakeStore) -> None:
    engine = FakeEngine(delay=0.05)
    running = Running(settings(tmp_path), store, engine)
    try:
        with KMEClient(running.target, timeout=10) as c:
            stream = c.ask_stream("go", max_new_tokens=200)
            assert next(stream) == "t0 "
            stream.close()  # cancels the call
            assert engine.stream_closed.wait(5)
            assert engine.pieces_made < 50
    finally:
        running.stop()


# -- auth, health, reflection, shutdown ---------------------------------------------------------

def test_token_auth(tmp_path: Path, store: FakeStore) -> None:
    running = Running(settings(tmp_path, token="s3cret"), store, FakeEngine())
    try:
        with KMEClient(running.target, timeout=5) as anonymous:
            assert anonymous.health() == "SERVING"  # health checks need no token
            with pytest.raises(Unauthenticated):
                anonymous.stats()
            with pytest.raises(Unauthenticated):
                list(anonymous.ask_stream("q"))
        with KMEClient(running.target, timeout=5, token="wrong") as wrong, pytest.raises(Unauthenticated):
            wrong.ask("q")
        with KMEClient(running.target, timeout=5, token="s3cret") as right:
            assert right.ask("q").answer == "echo q"
    finally:
        running.stop()


def test_health_follows_engine_readiness(tmp_path: Path, store: FakeStore) -> None:
    engine = FakeEngine(ready=False)
    running = Running(settings(tmp_path), store, engine)
    try:
        with KMEClient(running.target, timeout=5, retries=0) as c:
            assert c.health() == "NOT_SERVING"
            assert c.health("kme.v1.KnowledgeService") == "SERVING"  # the store serves meanwhile
            with pytest.raises(Unavailable, match="not ready"):
                c.ask("q")
            engine.is_ready = True
            deadline = time.monotonic() + 5
            while c.health() != "SERVING" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.health() == "SERVING" and c.health("kme.v1.AnswerService") == "SERVING"
    finally:
        running.stop()


def test_engine_built_in_background_by_factory(tmp_path: Path, store: FakeStore) -> None:
    calls: list[Any] = []

    def factory(s: Settings, st: Any) -> FakeEngine:
        calls.append((s, st))
        time.sleep(0.2)  # a model loading
        return FakeEngine()

    running = Running(settings(tmp_path), store, engine_factory=factory)
    try:
        with KMEClient(running.target, timeout=5) as c:
            deadline = time.monotonic() + 5
            while c.health() != "SERVING" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.ask("q").answer == "echo q" and calls[0][1] is store
    finally:
        running.stop()


def test_reflection_lists_the_services(served: Running) -> None:
    with grpc.insecure_channel(served.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"kme.v1.KnowledgeService", "kme.v1.AnswerService", "grpc.health.v1.Health"} <= names


def test_graceful_stop_finishes_in_flight_writes_then_closes(tmp_path: Path) -> None:
    store = FakeStore(write_delay=0.5)
    running = Running(settings(tmp_path), store, FakeEngine())
    results: list[Any] = []
    with KMEClient(running.target, timeout=10) as c:
        writer = threading.Thread(target=lambda: results.append(c.add_facts([{"subject": "a", "relation": "r", "object": "o"}])))
        writer.start()
        time.sleep(0.1)
        running.stop(grace=5)
        writer.join()
    assert results and results[0].ids == [1] and store.closed is False  # a store passed in is the caller's
    assert len(store.facts) == 1


def test_health_not_serving_during_shutdown(tmp_path: Path, store: FakeStore) -> None:
    running = Running(settings(tmp_path), store, FakeEngine())
    with grpc.insecure_channel(running.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        running.run(running.server.health.enter_graceful_shutdown())
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.NOT_SERVING
    running.stop()


# -- settings -----------------------------------------------------------------------------------

def test_settings_env_then_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KME_PORT", "6000")
    monkeypatch.setenv("KME_MAX_BATCH", "7")
    monkeypatch.setenv("KME_STORE__INDEX__NPROBE", "3")
    monkeypatch.setenv("KME_MODEL__DEVICE", "auto")
    s = settings_from_args(["--port", "7000", "--data", str(tmp_path), "--set", "store.retrieval.k=9",
                            "--model", "smollm2-135m"])
    assert (s.port, s.max_batch, s.data_dir) == (7000, 7, tmp_path)
    assert s.store.index.nprobe == 3 and s.store.retrieval.k == 9  # env and flag merged, not replaced
    assert s.model.name_or_path == "smollm2-135m" and s.model.device == "auto"


def test_real_store_same_answers_in_process_and_over_grpc(tmp_path: Path) -> None:
    """The real KnowledgeStore (with the fast test embedder) behind the servicers: what the
    client gets over gRPC is what the store says in process."""
    store_module = pytest.importorskip("kme_store.store")
    fakes = pytest.importorskip("fakes")
    store = store_module.KnowledgeStore(tmp_path / "store", embedder=fakes.TrigramEmbedder())
    running = Running(settings(tmp_path, max_batch=2), store, FakeEngine())
    try:
        with KMEClient(running.target, timeout=30) as c:
            added = c.add_facts([{"subject": "Paris", "relation": "capital of", "object": "France"},
                                 {"subject": "Rome", "relation": "capital of", "object": "Italy"},
                                 {"prompt": "The mother tongue of Danielle Darrieux is", "subject": "Danielle Darrieux",
                                  "target_new": "English"}])
            assert len(added.ids) == 3  # two requests, one batch
            assert {f.batch_id for f in store.list_facts()} == {added.batch_id}
            for fid in added.ids:
                remote, local = c.get_fact(fid), store.get(fid)
                assert (remote.subject, remote.relation, remote.object, remote.template, remote.text) == (
                    local.subject, local.relation, local.object, local.template, local.sentence())
            query = "What is the capital of Paris?"
            assert [h.fact.id for h in c.retrieve(query, k=2)] == [h.fact.id for h in store.retrieve(query, k=2)]
            assert [f.id for f in c.list_facts(page_size=2)] == [f.id for f in store.list_facts()]
            assert c.stats().counts["facts"] == store.stats().facts
            assert c.rollback(added.batch_id) == 3 and store.list_facts() == []
    finally:
        running.stop()
        store.close()


# -- the CLI over the same server ---------------------------------------------------------------

def test_cli_commands(served: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from kme_client.cli import main

    t = ["--target", served.target]
    assert main(["add", *t, "--subject", "Paris", "--relation", "capital of", "--object", "France"]) == 0
    assert "added fact 1" in capsys.readouterr().out
    assert main(["add", *t, "--subject", "Paris", "--relation", "capital of", "--object", " "]) == 2
    assert "items[0].fact.object: is empty" in capsys.readouterr().err
    assert main(["facts", "list", *t, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["object"] == "France"
    assert main(["facts", "get", "42", *t]) == 3
    assert main(["ask", "Where is Paris?", *t, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "in_context"
    assert main(["health", *t]) == 0 and capsys.readouterr().out.strip() == "SERVING"
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"subject": "Rome", "relation": "capital of", "object": "Italy"}) + "\n")
    assert main(["import", str(path), *t, "-q"]) == 0 and "1 imported" in capsys.readouterr().out
    assert main(["rollback", "1", *t]) == 0
    assert main(["health", "--target", "127.0.0.1:1", "--timeout", "2"]) == 5  # unreachable


def test_message_over_the_size_limit_is_resource_exhausted(tmp_path: Path, store: FakeStore) -> None:
    running = Running(settings(tmp_path, max_message_mb=1), store, FakeEngine())
    try:
        with KMEClient(running.target, timeout=5) as c, pytest.raises(ResourceExhausted):
            c.ask("x" * (2 * 1024 * 1024))
    finally:
        running.stop()


def test_tls(tmp_path: Path, store: FakeStore) -> None:
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("needs openssl to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    running = Running(settings(tmp_path, tls_cert=cert, tls_key=key, token="t"), store, FakeEngine())
    try:
        target = f"localhost:{running.server.port}"
        with KMEClient(target, timeout=5, tls=cert, token="t") as c:
            assert c.ask("q").answer == "echo q"
        with KMEClient(target, timeout=2, retries=0) as plain, pytest.raises(Unavailable):
            plain.stats()
    finally:
        running.stop()


def test_real_answerer_and_store_over_grpc(tmp_path: Path) -> None:
    """The real Answerer (fake language model, test embedders) and real store behind the servicers."""
    store_module = pytest.importorskip("kme_store.store")
    fakes = pytest.importorskip("fakes")
    answering_tests = pytest.importorskip("test_answering")
    from kme_server.answering import AnsweringSettings, Answerer
    from kme_server.editing.demos import DemoPool
    from kme_server.editing.ike import IKESettings, InContextEditor

    store = store_module.KnowledgeStore(tmp_path / "store", embedder=fakes.TrigramEmbedder())
    s = AnsweringSettings(ike=IKESettings(demos=2))
    ike = InContextEditor(s.ike, pool=DemoPool.from_demos(answering_tests.DEMOS, answering_tests.HashEmbedder()),
                          embedder=answering_tests.HashEmbedder())
    answerer = Answerer(store, answering_tests.FakeModel(), s, ike=ike)

    def factory(settings: Settings, st: Any) -> Answerer:
        answerer.warm_up()  # what a real factory does before the engine reports ready
        return answerer

    running = Running(settings(tmp_path), store, engine_factory=factory)
    try:
        with KMEClient(running.target, timeout=30) as c:
            deadline = time.monotonic() + 10
            while c.health() != "SERVING" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.ask("Where is the Eiffel Tower?", mode="none").answer == "the base answer"
            added = c.add_facts([{"subject": "Eiffel Tower", "relation": "is located in", "object": "Rome",
                                  "template": "{} is located in"}])
            result = c.ask("Where is the Eiffel Tower?", mode="in_context")
            assert result.answer == "Rome" and [f.id for f in result.facts] == added.ids
            events = list(c.ask_stream("Where is the Eiffel Tower?", mode="in_context"))
            assert "".join(e for e in events if isinstance(e, str)).strip() == "Rome" and events[-1].answer == "Rome"
    finally:
        running.stop()
        store.close()
