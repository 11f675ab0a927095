from kme.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_UNSPECIFIED: _ClassVar[Mode]
    MODE_NONE: _ClassVar[Mode]
    MODE_IN_CONTEXT: _ClassVar[Mode]
    MODE_SERAC: _ClassVar[Mode]
    MODE_MULTI_HOP: _ClassVar[Mode]
    MODE_WEIGHTS: _ClassVar[Mode]
    MODE_AUTO: _ClassVar[Mode]
MODE_UNSPECIFIED: Mode
MODE_NONE: Mode
MODE_IN_CONTEXT: Mode
MODE_SERAC: Mode
MODE_MULTI_HOP: Mode
MODE_WEIGHTS: Mode
MODE_AUTO: Mode

class GenerationOptions(_message.Message):
    __slots__ = ("max_new_tokens", "stop", "temperature")
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    max_new_tokens: int
    stop: _containers.RepeatedScalarFieldContainer[str]
    temperature: float
    def __init__(self, max_new_tokens: _Optional[int] = ..., stop: _Optional[_Iterable[str]] = ..., temperature: _Optional[float] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("text", "mode", "options")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    text: str
    mode: Mode
    options: GenerationOptions
    def __init__(self, text: _Optional[str] = ..., mode: _Optional[_Union[Mode, str]] = ..., options: _Optional[_Union[GenerationOptions, _Mapping]] = ...) -> None: ...

class UsedFact(_message.Message):
    __slots__ = ("id", "text", "fact")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FACT_FIELD_NUMBER: _ClassVar[int]
    id: int
    text: str
    fact: _common_pb2.Fact
    def __init__(self, id: _Optional[int] = ..., text: _Optional[str] = ..., fact: _Optional[_Union[_common_pb2.Fact, _Mapping]] = ...) -> None: ...

class Hop(_message.Message):
    __slots__ = ("subject", "relation", "object", "source", "fact_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FACT_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    relation: str
    object: str
    source: str
    fact_id: int
    def __init__(self, subject: _Optional[str] = ..., relation: _Optional[str] = ..., object: _Optional[str] = ..., source: _Optional[str] = ..., fact_id: _Optional[int] = ...) -> None: ...

class AskResponse(_message.Message):
    __slots__ = ("answer", "mode", "facts", "chain", "timings_ms", "prompt_tokens", "completion_tokens")
    class TimingsMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_MS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    answer: str
    mode: Mode
    facts: _containers.RepeatedCompositeFieldContainer[UsedFact]
    chain: _containers.RepeatedCompositeFieldContainer[Hop]
    timings_ms: _containers.ScalarMap[str, float]
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, answer: _Optional[str] = ..., mode: _Optional[_Union[Mode, str]] = ..., facts: _Optional[_Iterable[_Union[UsedFact, _Mapping]]] = ..., chain: _Optional[_Iterable[_Union[Hop, _Mapping]]] = ..., timings_ms: _Optional[_Mapping[str, float]] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class AskStreamResponse(_message.Message):
    __slots__ = ("token", "final")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    token: str
    final: AskResponse
    def __init__(self, token: _Optional[str] = ..., final: _Optional[_Union[AskResponse, _Mapping]] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("prompt", "candidates", "mode")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    candidates: _containers.RepeatedScalarFieldContainer[str]
    mode: Mode
    def __init__(self, prompt: _Optional[str] = ..., candidates: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[Mode, str]] = ...) -> None: ...

class CandidateScore(_message.Message):
    __slots__ = ("candidate", "logprob", "tokens")
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    LOGPROB_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    logprob: float
    tokens: int
    def __init__(self, candidate: _Optional[str] = ..., logprob: _Optional[float] = ..., tokens: _Optional[int] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("scores",)
    SCORES_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedCompositeFieldContainer[CandidateScore]
    def __init__(self, scores: _Optional[_Iterable[_Union[CandidateScore, _Mapping]]] = ...) -> None: ...
