"""The AI factor: an OpenAI-compatible chat model reads the engine's factors and the recent candles
and answers one strict JSON call, stored as a signal (docs/signals.md, "The AI factor").

- Off without a key: with `SIGNALS_AI_API_KEY` empty every entry point refuses with `AI_OFF` and
  nothing is sent. `SIGNALS_AI_BASE_URL` names any server speaking the chat-completions API.
- The answer must be exactly `{"side": "buy"|"sell"|"neutral", "confidence": 0..1, "reasoning":
  str <= 1000 chars, "horizon_bars": int >= 1 (optional)}`; anything else is refused
  (`answer_parse`) and no signal is stored.
- Retries for reads only: a completion is a POST that is billed, so it is sent once, whatever
  happens (timeout, 5xx, 429: the error says when to try again). `ai_check` lists the server's
  models, a free and idempotent read, and retries it with backoff.
- Every completion that reached the server is an `AiUsage` row (tokens from the answer's `usage`,
  priced with `SIGNALS_AI_PRICE_PER_1K_PROMPT` / `_COMPLETION`), failed ones too.
- Budget: `AiBudget.monthly_limit` USD per calendar month (UTC); no row or 0 means no calls. The
  budget row is locked from the check until the usage row is written, so two calls of one
  organization never both pass on the last cent (its AI calls run one at a time).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import openai
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import ApplicationError
from exchanges.market_data import TIMEFRAME_MS
from signals.models import AiBudget, AiUsage, Signal, SignalSide, SignalSource, SourceKind
from signals.services import signal_record
from strategies.base import Bars

AI_OFF = "AI factor is off: no API key configured (set SIGNALS_AI_API_KEY)."
MAX_REASONING = 1000
MAX_RECENT = 500
READ_ATTEMPTS = 3
READ_BACKOFF = 0.5  # seconds before the first retry of a read, doubling after each
ANSWER_KEYS = {"side", "confidence", "reasoning", "horizon_bars"}
REQUIRED_KEYS = {"side", "confidence", "reasoning"}
COST_QUANTUM = Decimal("0.000000000001")

SYSTEM_PROMPT = """You are a trading-signal analyst. You get one market (symbol and timeframe), the \
scores of technical factors computed on its closed candles (each from -1, bearish, to +1, bullish, \
with a one-line reason) and the most recent candles (oldest first; ts is the candle's open time in \
milliseconds since the epoch, UTC; o, h, l, c are prices; v is the base volume).

Decide whether the market is a buy, a sell or neither over the next few candles. Answer with one \
JSON object and nothing else, exactly these keys:
{"side": "buy" | "sell" | "neutral", "confidence": number from 0 to 1, "reasoning": string of at \
most 1000 characters, "horizon_bars": integer >= 1 (optional: how many candles the call holds)}
No other keys, no markdown, no text outside the object."""


@dataclass(frozen=True)
class AiAnswer:
    side: str
    confidence: float
    reasoning: str
    horizon_bars: int | None = None


@dataclass(frozen=True)
class AiCall:
    """A validated answer and what it cost."""

    answer: AiAnswer
    usage: AiUsage


# -- the client -------------------------------------------------------------------------------------
def _key() -> str:
    key = settings.SIGNALS_AI_API_KEY
    if not key:
        raise ApplicationError(AI_OFF, code="ai_off")
    return key


def ai_enabled() -> bool:
    return bool(settings.SIGNALS_AI_API_KEY)


def ai_client(*, timeout: float | None = None) -> openai.OpenAI:
    """The chat client, with the library's own retries off: which calls repeat is decided here."""
    return openai.OpenAI(
        api_key=_key(),
        base_url=settings.SIGNALS_AI_BASE_URL or None,
        timeout=settings.SIGNALS_AI_TIMEOUT if timeout is None else timeout,
        max_retries=0,
    )


def _scrub(text: str) -> str:
    """An error text fit to store and show: never the key, and short."""
    key = settings.SIGNALS_AI_API_KEY
    if key:
        text = text.replace(key, "***")
    return text[:250]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _status_message(exc: openai.APIStatusError) -> str:
    detail = exc.body.get("message") if isinstance(exc.body, dict) else None
    if exc.status_code == 429:
        wait = _retry_after(exc)
        when = f"retry after {wait:g}s" if wait is not None else "retry later"
        return f"AI model rate limited, {when} (not retried: a completion is billed)."
    if exc.status_code in (401, 403):
        return f"AI model refused the API key (HTTP {exc.status_code}); check SIGNALS_AI_API_KEY."
    return f"AI model answered HTTP {exc.status_code}: {detail or 'no detail'}"


def ai_check(*, attempts: int = READ_ATTEMPTS, backoff: float = READ_BACKOFF) -> list[str]:
    """The model ids the server offers: a connectivity and key check. A read, so a timeout, a
    connection error, a 5xx or a 429 is retried up to `attempts` times in all, waiting `backoff`
    seconds and doubling (or the server's retry-after, when longer)."""
    client = ai_client()
    wait = backoff
    for attempt in range(1, attempts + 1):
        try:
            return sorted(m.id for m in client.models.list())
        except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as exc:
            if attempt == attempts:
                if isinstance(exc, openai.APIStatusError):
                    message = _status_message(exc)
                elif isinstance(exc, openai.APITimeoutError):
                    message = "AI model did not answer in time."
                else:
                    message = "AI model unreachable."
                raise ApplicationError(_scrub(f"{message} ({attempts} attempts)"), code="ai_unavailable") from None
            delay = wait
            if isinstance(exc, openai.RateLimitError):
                delay = max(delay, _retry_after(exc) or 0)
            time.sleep(delay)
            wait *= 2
        except openai.APIStatusError as exc:
            raise ApplicationError(_scrub(_status_message(exc)), code="ai_refused") from None
    raise AssertionError("unreachable")


# -- the prompt -------------------------------------------------------------------------------------
def _figure(x: float) -> float | int:
    """A compact number for the prompt: 10 significant digits, integers without a fraction."""
    v = float(f"{float(x):.10g}")
    return int(v) if v.is_integer() and abs(v) < 1e15 else v


def ai_prompt(*, symbol: str, timeframe: str, factors: dict[str, Any], bars: Bars, recent: int = 30) -> list[dict]:
    """The chat messages: the task and answer schema, then the factor summary (name, score,
    reason of each factor; the drawing details are left out) and the last `recent` candles.
    Only market data goes in: no organization, source or account data, no key."""
    if not isinstance(recent, int) or isinstance(recent, bool) or not 1 <= recent <= MAX_RECENT:
        raise ApplicationError(f"recent must be a whole number from 1 to {MAX_RECENT}.", field="recent")
    summary = []
    for name, value in (factors or {}).items():
        if not isinstance(value, dict) or name == "ai":
            continue
        score = value.get("score")
        summary.append(
            {
                "name": str(name),
                "score": round(float(score), 4) if isinstance(score, int | float) else None,
                "reason": str(value.get("reason") or "")[:300],
            }
        )
    tail = bars.tail(recent)
    rows = [
        [int(tail.ts[i]), *(_figure(a[i]) for a in (tail.open, tail.high, tail.low, tail.close, tail.volume))]
        for i in range(len(tail))
    ]
    user = {
        "symbol": str(symbol).strip().upper(),
        "timeframe": timeframe,
        "factors": summary,
        "candles": {"columns": ["ts", "o", "h", "l", "c", "v"], "rows": rows},
    }
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": json.dumps(user, separators=(",", ":"))},
    ]


# -- the answer -------------------------------------------------------------------------------------
def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def answer_parse(content: Any) -> AiAnswer:
    """The model's message content as an `AiAnswer`, or ApplicationError saying what is wrong.
    Strict: one JSON object, no unknown keys, exact types (a boolean is not a number, 1.0 is not
    an integer), values in range."""

    def bad(why: str) -> ApplicationError:
        return ApplicationError(f"AI answer refused: {why}.", field="answer", code="ai_answer")

    if not isinstance(content, str) or not content.strip():
        raise bad("empty message")
    try:
        data = json.loads(content, parse_constant=_no_constants)
    except ValueError:
        raise bad("not JSON") from None
    if not isinstance(data, dict):
        raise bad("not a JSON object")
    unknown = set(data) - ANSWER_KEYS
    if unknown:
        raise bad(f"unknown key(s) {', '.join(sorted(unknown))}")
    missing = REQUIRED_KEYS - set(data)
    if missing:
        raise bad(f"missing key(s) {', '.join(sorted(missing))}")
    side = data["side"]
    if not isinstance(side, str) or side not in SignalSide.values:
        raise bad("side must be buy, sell or neutral")
    confidence = data["confidence"]
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise bad("confidence must be a number from 0 to 1")
    reasoning = data["reasoning"]
    if not isinstance(reasoning, str) or len(reasoning) > MAX_REASONING:
        raise bad(f"reasoning must be a string of at most {MAX_REASONING} characters")
    horizon = data.get("horizon_bars")
    if "horizon_bars" in data and (isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1):
        raise bad("horizon_bars must be a whole number of at least 1")
    return AiAnswer(side=side, confidence=float(confidence), reasoning=reasoning, horizon_bars=horizon)


# -- budget and cost --------------------------------------------------------------------------------
def month_bounds(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (UTC) holding `moment`: [start, next start)."""
    m = moment.astimezone(dt.UTC)
    start = m.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def month_spent(*, organization_id: int, moment: dt.datetime | None = None) -> Decimal:
    """The AI cost (USD) of the organization's calendar month holding `moment`."""
    start, end = month_bounds(moment or timezone.now())
    total = AiUsage.objects.filter(
        organization_id=organization_id, created_at__gte=start, created_at__lt=end
    ).aggregate(total=Sum("cost"))["total"]
    return total or Decimal("0")


def usage_cost(*, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """USD of one call at the configured prices per 1,000 tokens."""
    prompt = Decimal(prompt_tokens) * Decimal(settings.SIGNALS_AI_PRICE_PER_1K_PROMPT) / 1000
    completion = Decimal(completion_tokens) * Decimal(settings.SIGNALS_AI_PRICE_PER_1K_COMPLETION) / 1000
    return (prompt + completion).quantize(COST_QUANTUM)


def _budget_lock(organization_id: int) -> AiBudget:
    """The budget row, locked for the caller's transaction, or ApplicationError when it is spent."""
    budget = AiBudget.objects.select_for_update().filter(organization_id=organization_id).first()
    if budget is None or budget.monthly_limit <= 0:
        raise ApplicationError(
            "The AI factor has no budget: set a monthly AI limit above 0 USD for the organization.",
            code="ai_budget",
        )
    now = timezone.now()
    spent = month_spent(organization_id=organization_id, moment=now)
    if spent >= budget.monthly_limit:
        raise ApplicationError(
            f"AI budget of {budget.monthly_limit.normalize():f} USD for {now:%B %Y} is spent "
            f"({spent.normalize():f} USD used).",
            code="ai_budget",
        )
    return budget


def _tokens(usage: Any) -> tuple[int, int]:
    def count(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    if usage is None:
        return 0, 0
    return count(getattr(usage, "prompt_tokens", None)), count(getattr(usage, "completion_tokens", None))


# -- the call ---------------------------------------------------------------------------------------
def ai_complete(
    *, organization_id: int, messages: list[dict], model: str | None = None, signal_source: SignalSource | None = None
) -> AiCall:
    """Send one chat completion within the organization's budget and validate its answer. Sent
    once, never retried (it is billed). The attempt is recorded as an `AiUsage` row whenever the
    server was reached, failed or not; a failure then raises ApplicationError after the row is
    written, so the caller stores no signal. Call it outside a transaction: the budget lock is held
    until the usage row commits, and an enclosing rollback would forget a billed call."""
    client = ai_client()
    model = model or settings.SIGNALS_AI_MODEL
    with transaction.atomic():
        _budget_lock(organization_id)
        prompt_tokens = completion_tokens = 0
        answer: AiAnswer | None = None
        error: ApplicationError | None = None
        reached = True
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=messages, response_format={"type": "json_object"}, temperature=0
            )
            try:
                completion = raw.parse()
            except Exception:  # the body is not a chat completion at all (HTML, broken JSON)
                completion = None
            prompt_tokens, completion_tokens = _tokens(getattr(completion, "usage", None))
            choices = getattr(completion, "choices", None)
            if completion is None or not isinstance(choices, list):
                raise ApplicationError("AI answer refused: not a chat completion.", field="answer", code="ai_answer")
            if not choices:
                raise ApplicationError("AI answer refused: no choices.", field="answer", code="ai_answer")
            answer = answer_parse(getattr(getattr(choices[0], "message", None), "content", None))
        except ApplicationError as exc:
            error = exc
        except openai.APITimeoutError:
            error = ApplicationError(
                f"AI model did not answer within {client.timeout}s (not retried: a completion is billed).",
                code="ai_timeout",
            )
        except openai.APIConnectionError:
            reached = False
            error = ApplicationError("AI model unreachable.", code="ai_unavailable")
        except openai.APIStatusError as exc:
            error = ApplicationError(
                _scrub(_status_message(exc)), code="ai_rate_limited" if exc.status_code == 429 else "ai_refused"
            )
        usage = None
        if reached:
            usage = AiUsage.objects.create(
                organization_id=organization_id,
                source=signal_source,
                model=model[:64],
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost=usage_cost(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
                ok=error is None,
                error=_scrub(error.message) if error is not None else "",
            )
    if error is not None:
        raise error
    assert answer is not None and usage is not None
    return AiCall(answer=answer, usage=usage)


def ai_signal(
    *,
    signal_source: SignalSource,
    symbol: str,
    timeframe: str,
    bars: Bars,
    factors: dict[str, Any],
    exchange: str = "",
    bar_ts: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Signal:
    """Ask the AI model for a call on the engine's `factors` and the recent `bars`, and store it
    through `signal_record`: the engine factors plus an `ai` factor (score +confidence for a buy,
    -confidence for a sell, 0 neutral; model, tokens and cost), the model's reasoning, valid for
    `horizon_bars` candles when the model gave one. Refused before any call when the source is
    not an enabled AI source, the candle has its signal already, the key is missing or the
    budget is spent. `config["model"]` and `config["recent"]` of the source override the default
    model and the 30 candles shown."""
    if signal_source.kind != SourceKind.AI:
        raise ApplicationError("Only an AI source asks the AI model.", field="source")
    if not signal_source.enabled:
        raise ApplicationError(f"Signal source {signal_source.name!r} is disabled.", field="source")
    if timeframe not in TIMEFRAME_MS:
        raise ApplicationError(f"Timeframe must be one of {', '.join(TIMEFRAME_MS)}.", field="timeframe")
    if len(bars) == 0:
        raise ApplicationError("No candles to show the AI model.", field="bars")
    _key()
    norm_symbol = str(symbol or "").strip().upper()
    if (
        bar_ts is not None
        and Signal.objects.filter(
            source=signal_source,
            exchange=str(exchange or "")[:32],
            symbol=norm_symbol,
            timeframe=timeframe,
            bar_ts=bar_ts,
        ).exists()
    ):
        raise ApplicationError(
            f"{signal_source.name!r} already has a signal for {norm_symbol} {timeframe} at that candle.", field="bar_ts"
        )
    config = signal_source.config or {}
    model = config.get("model") if isinstance(config.get("model"), str) and config.get("model") else None
    messages = ai_prompt(
        symbol=norm_symbol, timeframe=timeframe, factors=factors, bars=bars, recent=config.get("recent", 30)
    )
    call = ai_complete(
        organization_id=signal_source.organization_id, messages=messages, model=model, signal_source=signal_source
    )
    answer, usage = call.answer, call.usage
    now = now or timezone.now()
    valid_until = None
    if answer.horizon_bars is not None:
        valid_until = now + dt.timedelta(milliseconds=TIMEFRAME_MS[timeframe] * min(answer.horizon_bars, 10_000))
    signed = {"buy": answer.confidence, "sell": -answer.confidence}.get(answer.side, 0.0)
    ai_factor = {
        "score": round(signed, 4),
        "reason": answer.reasoning[:200],
        "side": answer.side,
        "confidence": answer.confidence,
        "horizon_bars": answer.horizon_bars,
        "model": usage.model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost": f"{usage.cost.normalize():f}",
        "usage_id": usage.pk,
    }
    return signal_record(
        signal_source=signal_source,
        symbol=norm_symbol,
        timeframe=timeframe,
        side=answer.side,
        confidence=answer.confidence,
        exchange=exchange,
        factors={**(factors or {}), "ai": ai_factor},
        reasoning=answer.reasoning,
        price=Decimal(str(_figure(bars.close[-1]))),
        bar_ts=bar_ts,
        valid_until=valid_until,
        now=now,
    )
