"""AnswerService: questions and candidate scores, run on the engine's bounded thread pool."""
from __future__ import annotations

import logging
from typing import AsyncIterator

import grpc

from kme.v1 import answer_pb2, answer_pb2_grpc
from kme_server import convert
from kme_server.answers import AskResult, GenerationOptions
from kme_server.errors import LimitExceeded, NotReady, ServiceError
from kme_server.servicers.calls import deadline_of
from kme_server.servicers.pool import BoundedPool
from kme_server.servicers.protocols import AnsweringEngine, EngineSlot
from kme_store.errors import FieldError

log = logging.getLogger(__name__)

# Candidates scored in one call: each is a forward pass on a CPU model.
MAX_CANDIDATES = 256


class AnswerServicer(answer_pb2_grpc.AnswerServiceServicer):
    """Validates, converts and hands each call to the engine on the bounded pool."""

    def __init__(self, engine: EngineSlot, pool: BoundedPool, defaults: GenerationOptions = GenerationOptions()) -> None:
        self._slot = engine
        self._pool = pool
        self._defaults = defaults  # fill the options a request sets only partly

    def _engine(self) -> AnsweringEngine:
        engine = self._slot.engine
        if engine is None or not engine.ready():
            why = f": {self._slot.failed}" if self._slot.failed else "; retry when health reports SERVING"
            raise NotReady(f"the answering engine is not ready{why}")
        return engine

    async def Ask(self, request: answer_pb2.AskRequest, context: grpc.aio.ServicerContext) -> answer_pb2.AskResponse:
        text = convert.required_text(request.text, "text")
        mode, options = convert.mode_from_pb(request.mode), convert.options_from_pb(request.options, self._defaults)
        engine = self._engine()
        result = await self._pool.run(engine.ask, text, mode, options, deadline=deadline_of(context))
        return convert.ask_result_to_pb(result)

    async def AskStream(self, request: answer_pb2.AskRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[answer_pb2.AskStreamResponse]:
        text = convert.required_text(request.text, "text")
        mode, options = convert.mode_from_pb(request.mode), convert.options_from_pb(request.options, self._defaults)
        engine = self._engine()
        # When the client cancels, grpc cancels this generator; the pool's stream then stops
        # pulling pieces and closes the engine's iterator, which stops decoding.
        final: AskResult | None = None
        async for piece in self._pool.stream(lambda: engine.stream(text, mode, options), deadline=deadline_of(context)):
            if isinstance(piece, AskResult):
                final = piece
            else:
                yield answer_pb2.AskStreamResponse(token=piece)
        if final is None:
            raise ServiceError("the engine's stream ended without a result")
        yield answer_pb2.AskStreamResponse(final=convert.ask_result_to_pb(final))

    async def Score(self, request: answer_pb2.ScoreRequest, context: grpc.aio.ServicerContext) -> answer_pb2.ScoreResponse:
        prompt = convert.required_text(request.prompt, "prompt")
        if not request.candidates:
            raise FieldError("candidates", "is empty")
        if len(request.candidates) > MAX_CANDIDATES:
            raise LimitExceeded(f"{len(request.candidates)} candidates; the limit is {MAX_CANDIDATES}", field="candidates")
        mode = convert.mode_from_pb(request.mode)
        engine = self._engine()
        scores = await self._pool.run(engine.score, prompt, list(request.candidates), mode, deadline=deadline_of(context))
        return convert.scores_to_pb(scores)
