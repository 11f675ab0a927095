from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FactStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FACT_STATUS_UNSPECIFIED: _ClassVar[FactStatus]
    FACT_STATUS_CURRENT: _ClassVar[FactStatus]
    FACT_STATUS_SUPERSEDED: _ClassVar[FactStatus]
    FACT_STATUS_DELETED: _ClassVar[FactStatus]
    FACT_STATUS_ROLLED_BACK: _ClassVar[FactStatus]
FACT_STATUS_UNSPECIFIED: FactStatus
FACT_STATUS_CURRENT: FactStatus
FACT_STATUS_SUPERSEDED: FactStatus
FACT_STATUS_DELETED: FactStatus
FACT_STATUS_ROLLED_BACK: FactStatus

class Fact(_message.Message):
    __slots__ = ("subject", "relation", "object", "relation_id", "object_aliases", "template", "source", "id", "batch_id", "status", "created_at", "updated_at", "supersedes", "text")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    RELATION_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ALIASES_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    relation: str
    object: str
    relation_id: str
    object_aliases: _containers.RepeatedScalarFieldContainer[str]
    template: str
    source: str
    id: int
    batch_id: str
    status: FactStatus
    created_at: float
    updated_at: float
    supersedes: int
    text: str
    def __init__(self, subject: _Optional[str] = ..., relation: _Optional[str] = ..., object: _Optional[str] = ..., relation_id: _Optional[str] = ..., object_aliases: _Optional[_Iterable[str]] = ..., template: _Optional[str] = ..., source: _Optional[str] = ..., id: _Optional[int] = ..., batch_id: _Optional[str] = ..., status: _Optional[_Union[FactStatus, str]] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., supersedes: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class EditRequest(_message.Message):
    __slots__ = ("prompt", "subject", "target_new", "ground_truth", "relation_id", "relation", "target_aliases", "source")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TARGET_NEW_FIELD_NUMBER: _ClassVar[int]
    GROUND_TRUTH_FIELD_NUMBER: _ClassVar[int]
    RELATION_ID_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    TARGET_ALIASES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    subject: str
    target_new: str
    ground_truth: str
    relation_id: str
    relation: str
    target_aliases: _containers.RepeatedScalarFieldContainer[str]
    source: str
    def __init__(self, prompt: _Optional[str] = ..., subject: _Optional[str] = ..., target_new: _Optional[str] = ..., ground_truth: _Optional[str] = ..., relation_id: _Optional[str] = ..., relation: _Optional[str] = ..., target_aliases: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ...) -> None: ...

class FactInput(_message.Message):
    __slots__ = ("fact", "edit")
    FACT_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    fact: Fact
    edit: EditRequest
    def __init__(self, fact: _Optional[_Union[Fact, _Mapping]] = ..., edit: _Optional[_Union[EditRequest, _Mapping]] = ...) -> None: ...
