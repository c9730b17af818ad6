"""``organism/<id>``: an Inspect model provider that serves a model organism.

Local organisms are loaded with transformers (+ peft) and served by a batching engine;
prompted organisms forward to their Inspect model with the hidden system prompt prepended.

Per call:
- thinking follows the card's default; ``reasoning_effort="none"`` turns it off and any other
  effort turns it on. Reasoning comes back as ``ContentReasoning``, the answer as text.
- a trailing assistant message is a *prefill*: the reply continues it, and the returned
  message is the whole assistant turn (prefill + continuation).
- ``logprobs`` / ``top_logprobs`` return token log-probabilities (local organisms).

- a reply that would run past the organism's context is cut there (``stop_reason``
  ``model_length``, metadata ``reply_tokens_capped``); a prompt that leaves no room raises
  `PromptTooLong` (prompts are never cut).

Local weights load in a background thread as soon as the model is created: ``await
api.ready()`` waits for them without blocking the event loop (the first call does too).

Model args (``-M``): ``device``, ``dtype``, ``thinking`` (default on/off), ``merge_adapter``
(a private merged copy instead of a shared base + adapter), ``max_batch`` (rows per step of the
shared base), ``batching`` (``continuous`` or ``static``), ``organisms`` (an extra card folder),
``prompted_model`` (override), ``backend`` (``auto``, the default: ``vllm`` when vLLM is
installed and CUDA is present, else ``transformers``; with ``vllm`` other args go to ``vllm
serve``, and white-box tools and log-likelihood measures, which read the model itself, need
``transformers``).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    Logprob,
    Logprobs,
    Model,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
    get_model,
)
from inspect_ai.model._model_call import ModelCall
from inspect_ai.tool import ToolChoice, ToolInfo

from auditgame.cards import Organism
from auditgame.organism.chat import (
    assistant_content,
    split_prefill,
    split_thinking,
)
from auditgame.organism.engine import (
    Generation,
    GenerationRequest,
    LocalEngine,
    SamplingKey,
    start_engine,
)
from auditgame.organism.vllm import VLLMEngine, pick_backend
from auditgame.preflight import check_organisms
from auditgame.registry import registry

DEFAULT_MAX_TOKENS = 2048


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def thinking_for(config: GenerateConfig, default: bool) -> bool:
    """Thinking on or off for one call."""
    if config.reasoning_effort is None:
        return default
    return config.reasoning_effort != "none"


class OrganismAPI(ModelAPI):
    """Serves ``organism/<id>`` (see the module docstring)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        extra = [model_args.pop("organisms")] if model_args.get("organisms") else []
        cards = registry(extra)
        self.card: Organism = cards.get(model_name)
        check_organisms([self.card], cards)  # one clear line before any model loads
        self.thinking_default = _as_bool(model_args.pop("thinking", self.card.chat.thinking))
        self._engine: Future[LocalEngine] | None = None
        self.target: Model | None = None
        prompted_model = model_args.pop("prompted_model", None)
        self.backend = pick_backend(model_args.pop("backend", None), self.card)
        self.served: VLLMEngine | None = None
        if self.card.is_local and self.backend == "vllm":
            self.served = VLLMEngine(self.card, config, **model_args)
            model_args = {}
        elif self.card.is_local:
            given = {k: model_args.pop(k, None) for k in ("device", "dtype")}  # "" or None: the default
            options: dict[str, Any] = {k: v for k, v in given.items() if v}
            if "merge_adapter" in model_args:
                options["merge_adapter"] = _as_bool(model_args.pop("merge_adapter"))
            if "max_batch" in model_args:
                options["max_batch"] = int(model_args.pop("max_batch"))
            if "batching" in model_args:
                options["batching"] = model_args.pop("batching")
            self._engine = start_engine(self.card, **options)
        else:
            self.target = get_model(prompted_model or self.card.prompted_model, config=config)
        if model_args:
            raise ValueError(
                f"organism/{model_name}: unknown model args {sorted(model_args)}; known: device, "
                "dtype, thinking, merge_adapter, max_batch, batching, organisms, prompted_model, "
                "backend"
            )

    @property
    def serves_locally(self) -> bool:
        """True when this organism runs on a local engine (without waiting for it to load)."""
        return self._engine is not None

    @property
    def engine(self) -> LocalEngine | None:
        """The local engine (None for prompted organisms and vLLM); blocks until loaded, so
        async code awaits `ready` first."""
        return None if self._engine is None else self._engine.result()

    async def ready(self) -> None:
        """Wait until the organism can answer: local weights loaded (in a thread), or the
        forwarded model ready. Load errors surface here."""
        if self._engine is not None:
            engine = await asyncio.wrap_future(self._engine)
            await engine.ready()
        elif self.served is not None:
            await self.served.ready()
        elif self.target is not None and hasattr(self.target.api, "ready"):
            await self.target.api.ready()

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def connection_key(self) -> str:
        """One connection pool per organism (a prompted organism may call another one)."""
        return self.model_name

    def max_connections(self) -> int:
        served = self.serves_locally or self.served is not None
        return 64 if served else super().max_connections()

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput | tuple[ModelOutput | Exception, ModelCall]:
        if self.target is not None:
            return await self._generate_forwarded(input, tools, tool_choice, config)
        return await self._generate_local(input, config)

    async def _generate_forwarded(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """Prompted organisms: another Inspect model plays the organism."""
        assert self.target is not None
        hidden = [ChatMessageSystem(content=self.card.system_prompt)] if self.card.system_prompt else []
        prefill = split_prefill(input)[1]
        output = await self.target.generate(
            [*hidden, *input], tools=tools, tool_choice=tool_choice, config=config
        )
        whole_turn = (output.metadata or {}).get("prefill") == prefill  # e.g. another organism
        if prefill and output.choices and not whole_turn:  # return the whole turn, as local does
            message = output.choices[0].message
            message.content = prefill + message.text if isinstance(message.content, str) else [
                *[c for c in message.content if isinstance(c, ContentReasoning)],
                ContentText(text=prefill + message.text),
            ]
            output.completion = message.text
        return output

    async def _generate_local(
        self, input: list[ChatMessage], config: GenerateConfig
    ) -> tuple[ModelOutput, ModelCall]:
        if self.served is not None:  # vLLM: same prompts, same reading as transformers
            engine: LocalEngine | VLLMEngine = self.served
        else:
            assert self._engine is not None
            engine = await asyncio.wrap_future(self._engine)
        thinking = thinking_for(config, self.thinking_default)
        conversation, prefill = split_prefill(input)
        prompt = engine.prompt(conversation, thinking, prefill)
        defaults = engine.default_sampling()

        def pick(value: Any, name: str) -> Any:
            return defaults[name] if value is None else value

        top_logprobs = (config.top_logprobs or 0) if (config.logprobs or config.top_logprobs) else None
        request = GenerationRequest(
            prompt=prompt,
            max_new_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            sampling=SamplingKey(
                temperature=pick(config.temperature, "temperature"),
                top_p=pick(config.top_p, "top_p"),
                top_k=pick(config.top_k, "top_k"),
                seed=config.seed,
                stop=tuple(config.stop_seqs or ()),
                top_logprobs=top_logprobs,
            ),
        )
        generation = await engine.generate(request)
        output = self._output(generation, prefill, thinking, request.max_new_tokens)
        call = ModelCall.create(
            request={"prompt": prompt, "max_new_tokens": request.max_new_tokens,
                     "sampling": request.sampling.__dict__},
            response={"completion": generation.text, "stop_reason": generation.stop_reason},
        )
        return output, call

    def _output(
        self, generation: Generation, prefill: str | None, thinking: bool, requested: int
    ) -> ModelOutput:
        turn = (prefill or "") + generation.text
        split = split_thinking(turn, self.card.chat.think_tags)
        message = ChatMessageAssistant(
            content=assistant_content(split), model=self.model_name, source="generate"
        )
        logprobs = None
        if generation.logprobs is not None:
            logprobs = Logprobs(
                content=[
                    Logprob(
                        token=t.token,
                        logprob=t.logprob,
                        top_logprobs=[TopLogprob(token=s, logprob=v) for s, v in t.top] or None,
                    )
                    for t in generation.logprobs
                ]
            )
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=message, stop_reason=generation.stop_reason, logprobs=logprobs
                )
            ],
            usage=ModelUsage(
                input_tokens=generation.prompt_tokens,
                output_tokens=generation.completion_tokens,
                total_tokens=generation.prompt_tokens + generation.completion_tokens,
            ),
            metadata={
                "thinking": thinking,
                "prefill": prefill,
                "turn": turn,
                "thinking_well_formed": split.well_formed if thinking else None,
                **(
                    {"reply_tokens_capped": {"requested": requested, "allowed": generation.max_new_tokens}}
                    if generation.max_new_tokens < requested else {}
                ),
            },
        )
