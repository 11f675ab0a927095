from kme.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddFactsRequest(_message.Message):
    __slots__ = ("items", "batch_id", "source")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.FactInput]
    batch_id: str
    source: str
    def __init__(self, items: _Optional[_Iterable[_Union[_common_pb2.FactInput, _Mapping]]] = ..., batch_id: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class AddFactsResponse(_message.Message):
    __slots__ = ("ids", "batch_id")
    IDS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    batch_id: str
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., batch_id: _Optional[str] = ...) -> None: ...

class ImportOptions(_message.Message):
    __slots__ = ("format", "filename", "strict", "batch_id", "source")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    STRICT_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    format: str
    filename: str
    strict: bool
    batch_id: str
    source: str
    def __init__(self, format: _Optional[str] = ..., filename: _Optional[str] = ..., strict: _Optional[bool] = ..., batch_id: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class ImportItems(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.FactInput]
    def __init__(self, items: _Optional[_Iterable[_Union[_common_pb2.FactInput, _Mapping]]] = ...) -> None: ...

class ImportFactsRequest(_message.Message):
    __slots__ = ("options", "items", "chunk")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    options: ImportOptions
    items: ImportItems
    chunk: bytes
    def __init__(self, options: _Optional[_Union[ImportOptions, _Mapping]] = ..., items: _Optional[_Union[ImportItems, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("index", "field", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    field: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportFactsResponse(_message.Message):
    __slots__ = ("batch_id", "imported", "unchanged", "skipped", "errors")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    imported: int
    unchanged: int
    skipped: int
    errors: _containers.RepeatedCompositeFieldContainer[ItemError]
    def __init__(self, batch_id: _Optional[str] = ..., imported: _Optional[int] = ..., unchanged: _Optional[int] = ..., skipped: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[ItemError, _Mapping]]] = ...) -> None: ...

class DeleteFactsRequest(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class DeleteFactsResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("fact_id", "batch_id")
    FACT_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    fact_id: int
    batch_id: str
    def __init__(self, fact_id: _Optional[int] = ..., batch_id: _Optional[str] = ...) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ("rolled_back",)
    ROLLED_BACK_FIELD_NUMBER: _ClassVar[int]
    rolled_back: int
    def __init__(self, rolled_back: _Optional[int] = ...) -> None: ...

class GetFactRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class GetFactResponse(_message.Message):
    __slots__ = ("fact",)
    FACT_FIELD_NUMBER: _ClassVar[int]
    fact: _common_pb2.Fact
    def __init__(self, fact: _Optional[_Union[_common_pb2.Fact, _Mapping]] = ...) -> None: ...

class ListFactsRequest(_message.Message):
    __slots__ = ("subject", "relation", "batch_id", "status", "page_size", "page_token")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subject: str
    relation: str
    batch_id: str
    status: _common_pb2.FactStatus
    page_size: int
    page_token: str
    def __init__(self, subject: _Optional[str] = ..., relation: _Optional[str] = ..., batch_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.FactStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFactsResponse(_message.Message):
    __slots__ = ("facts", "next_page_token")
    FACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    facts: _containers.RepeatedCompositeFieldContainer[_common_pb2.Fact]
    next_page_token: str
    def __init__(self, facts: _Optional[_Iterable[_Union[_common_pb2.Fact, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RetrieveRequest(_message.Message):
    __slots__ = ("query", "k", "threshold")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    query: str
    k: int
    threshold: float
    def __init__(self, query: _Optional[str] = ..., k: _Optional[int] = ..., threshold: _Optional[float] = ...) -> None: ...

class ScoredFact(_message.Message):
    __slots__ = ("fact", "score", "subject_match", "relation_match", "similarity", "mention")
    FACT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_MATCH_FIELD_NUMBER: _ClassVar[int]
    RELATION_MATCH_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    MENTION_FIELD_NUMBER: _ClassVar[int]
    fact: _common_pb2.Fact
    score: float
    subject_match: float
    relation_match: float
    similarity: float
    mention: str
    def __init__(self, fact: _Optional[_Union[_common_pb2.Fact, _Mapping]] = ..., score: _Optional[float] = ..., subject_match: _Optional[float] = ..., relation_match: _Optional[float] = ..., similarity: _Optional[float] = ..., mention: _Optional[str] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[ScoredFact]
    def __init__(self, hits: _Optional[_Iterable[_Union[ScoredFact, _Mapping]]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerLimits(_message.Message):
    __slots__ = ("max_batch", "max_message_bytes", "max_queue")
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    max_batch: int
    max_message_bytes: int
    max_queue: int
    def __init__(self, max_batch: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_queue: _Optional[int] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("counts", "info", "limits", "model", "engine_ready")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class InfoEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENGINE_READY_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.ScalarMap[str, float]
    info: _containers.ScalarMap[str, str]
    limits: ServerLimits
    model: str
    engine_ready: bool
    def __init__(self, counts: _Optional[_Mapping[str, float]] = ..., info: _Optional[_Mapping[str, str]] = ..., limits: _Optional[_Union[ServerLimits, _Mapping]] = ..., model: _Optional[str] = ..., engine_ready: _Optional[bool] = ...) -> None: ...
