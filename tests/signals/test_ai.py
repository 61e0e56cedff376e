"""The AI factor against a loopback server speaking the OpenAI API, through the real `openai` client."""

import datetime as dt
import json
import threading
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from bots.models import BotEvent
from core.errors import ApplicationError
from signals.ai import AI_OFF, ai_check, ai_complete, ai_prompt, ai_signal, answer_parse, month_bounds, usage_cost
from signals.models import AiBudget, AiUsage, Signal
from strategies.base import Bars
from tests.factories import SignalSourceFactory
from tests.signals.openai_server import MODELS, OpenAiServer, Step, completion
from tests.strategies.replay import load_bars

pytestmark = pytest.mark.django_db

KEY = "sk-test-very-secret-key-0123456789abcdef"
FACTORS = {
    "rsi": {"score": -0.4, "reason": "RSI 27 is oversold.", "value": 27.1},
    "structure": {"score": 0.25, "reason": "Near support.", "pivots": [{"ts": 1, "price": 2.0, "kind": "low"}]},
}
GOOD = json.dumps({"side": "buy", "confidence": 0.72, "reasoning": "Oversold at support.", "horizon_bars": 4})


def bars(n: int = 40) -> Bars:
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000
    close = 30_000 + np.arange(n, dtype=np.float64) * 10.5
    return Bars(ts, close - 5, close + 20, close - 25, close, np.full(n, 12.25))


@pytest.fixture
def server():
    with OpenAiServer() as s:
        yield s


@pytest.fixture
def ai(settings, server):
    settings.SIGNALS_AI_API_KEY = KEY
    settings.SIGNALS_AI_BASE_URL = server.base_url
    settings.SIGNALS_AI_MODEL = MODELS[0]
    settings.SIGNALS_AI_TIMEOUT = 5.0
    settings.SIGNALS_AI_PRICE_PER_1K_PROMPT = Decimal("0.0015")
    settings.SIGNALS_AI_PRICE_PER_1K_COMPLETION = Decimal("0.002")
    return server


@pytest.fixture
def source(org_a):
    AiBudget.objects.create(organization=org_a, monthly_limit=Decimal("5"))
    return SignalSourceFactory(organization=org_a, kind="ai", name="GPT", alert_min_confidence=Decimal("0.5"))


def run(source, **kw):
    return ai_signal(
        signal_source=source, symbol="btc/usdt", timeframe="1h", bars=bars(), factors=FACTORS, exchange="binance", **kw
    )


def assert_no_key_anywhere(*texts):
    for text in texts:
        assert KEY not in str(text)
    for usage in AiUsage.objects.all():
        assert KEY not in usage.error
    for event in BotEvent.objects.all():
        assert KEY not in event.message and KEY not in json.dumps(event.data)


# -- a good answer ----------------------------------------------------------------------------------
def test_a_good_answer_is_stored_as_a_signal_with_its_tokens_and_exact_cost(ai, source):
    ai.answer_with(GOOD, prompt=1200, completion=300)
    now = timezone.now()
    sig = run(source, bar_ts=now.replace(minute=0, second=0, microsecond=0), now=now)

    assert (sig.side, sig.confidence, sig.symbol, sig.reasoning) == (
        "buy",
        Decimal("0.7200"),
        "BTC/USDT",
        "Oversold at support.",
    )
    assert sig.valid_until == now + dt.timedelta(hours=4)  # horizon_bars 4 of 1h
    assert sig.price == Decimal("30409.5")  # the last close: 30000 + 39 * 10.5
    assert sig.factors["rsi"] == FACTORS["rsi"]
    assert sig.factors["ai"]["score"] == 0.72 and sig.factors["ai"]["model"] == MODELS[0]
    usage = AiUsage.objects.get()
    # 1200/1000 * 0.0015 + 300/1000 * 0.002 = 0.0018 + 0.0006
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cost) == (1200, 300, Decimal("0.0024"))
    assert usage.ok and usage.error == "" and usage.organization_id == source.organization_id
    assert sig.factors["ai"]["cost"] == "0.0024" and sig.factors["ai"]["usage_id"] == usage.pk

    (request,) = ai.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["response_format"] == {"type": "json_object"} and request.body["model"] == MODELS[0]
    assert BotEvent.objects.get(kind="signal.recorded").data["confidence"] == "0.7200"
    assert_no_key_anywhere()


def test_a_sell_scores_minus_its_confidence_and_the_source_model_wins(ai, source):
    source.config = {"model": "gpt-test-large"}
    source.save()
    ai.answer_with('{"side": "sell", "confidence": 1, "reasoning": "x"}', prompt=10, completion=5)
    sig = run(source)
    assert sig.factors["ai"]["score"] == -1.0 and sig.confidence == Decimal("1.0000")
    assert ai.requests[0].body["model"] == "gpt-test-large"
    assert AiUsage.objects.get().model == "gpt-test-large"


def test_the_prompt_holds_the_factor_summary_and_the_last_candles_only(org_a):
    real = load_bars("BTC_USDT", "1h")
    messages = ai_prompt(symbol="BTC/USDT", timeframe="1h", factors=FACTORS, bars=real, recent=3)
    system, user = messages
    assert system["role"] == "system" and '"horizon_bars"' in system["content"]
    data = json.loads(user["content"])
    assert data["factors"] == [
        {"name": "rsi", "score": -0.4, "reason": "RSI 27 is oversold."},
        {"name": "structure", "score": 0.25, "reason": "Near support."},
    ]
    rows = data["candles"]["rows"]
    assert data["candles"]["columns"] == ["ts", "o", "h", "l", "c", "v"] and len(rows) == 3
    assert rows[-1][0] == int(real.ts[-1]) and rows[-1][4] == pytest.approx(float(real.close[-1]))
    assert rows[0][0] == int(real.ts[-3])
    assert org_a.name not in user["content"] and "pivots" not in user["content"]
    with pytest.raises(ApplicationError):
        ai_prompt(symbol="BTC/USDT", timeframe="1h", factors={}, bars=real, recent=0)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("", "empty message"),
        ("Sure! I think buy.", "not JSON"),
        ('```json\n{"side": "buy", "confidence": 0.5, "reasoning": "x"}\n```', "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"side": "long", "confidence": 0.5, "reasoning": "x"}', "side must be"),
        ('{"side": "buy", "confidence": 1.5, "reasoning": "x"}', "confidence must be"),
        ('{"side": "buy", "confidence": "0.5", "reasoning": "x"}', "confidence must be"),
        ('{"side": "buy", "confidence": true, "reasoning": "x"}', "confidence must be"),
        ('{"side": "buy", "confidence": NaN, "reasoning": "x"}', "not JSON"),
        ('{"side": "buy", "confidence": 0.5}', "missing key(s) reasoning"),
        ('{"side": "buy", "confidence": 0.5, "reasoning": "x", "stop": 1}', "unknown key(s) stop"),
        ('{"side": "buy", "confidence": 0.5, "reasoning": "x", "horizon_bars": 2.0}', "horizon_bars must be"),
        ('{"side": "buy", "confidence": 0.5, "reasoning": "x", "horizon_bars": 0}', "horizon_bars must be"),
        (json.dumps({"side": "buy", "confidence": 0.5, "reasoning": "x" * 1001}), "reasoning must be"),
    ],
)
def test_the_answer_schema_is_strict(content, why):
    with pytest.raises(ApplicationError) as e:
        answer_parse(content)
    assert why in e.value.message


def test_an_answer_at_the_limits_is_accepted():
    answer = answer_parse(json.dumps({"side": "neutral", "confidence": 0, "reasoning": "x" * 1000, "horizon_bars": 1}))
    assert (answer.side, answer.confidence, answer.horizon_bars) == ("neutral", 0.0, 1)


# -- garbage, errors, no retries --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "message", "tokens", "cost"),
    [
        # Billed tokens of a garbage answer still count: 800/1000 * 0.0015 + 20/1000 * 0.002.
        (Step(body=completion("buy!", prompt=800, completion=20)), "not JSON", (800, 20), "0.00124"),
        (
            Step(body=completion('{"side": "up", "confidence": 2, "reasoning": ""}', prompt=800, completion=20)),
            "side must be",
            (800, 20),
            "0.00124",
        ),
        (
            Step(body={"choices": [], "usage": {"prompt_tokens": 800, "completion_tokens": 0}}),
            "no choices",
            (800, 0),
            "0.0012",
        ),
        (Step(body={"id": "x", "object": "error"}), "not a chat completion", (0, 0), "0"),
        (Step(raw=b"<html>Bad gateway</html>"), "not a chat completion", (0, 0), "0"),
    ],
)
def test_a_garbage_answer_is_a_failed_usage_row_and_no_signal(ai, source, step, message, tokens, cost):
    ai.then(step)
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert message in e.value.message
    usage = AiUsage.objects.get()
    assert not usage.ok and message in usage.error
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cost) == (*tokens, Decimal(cost))
    assert not Signal.objects.exists() and ai.count() == 1
    assert_no_key_anywhere(e.value, repr(e.value))


def test_a_429_is_not_retried_and_says_when_to_try_again(ai, source):
    ai.fail(429, f"Rate limit reached for key {KEY}", headers={"retry-after": "20"})
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert "rate limited, retry after 20s" in e.value.message and e.value.code == "ai_rate_limited"
    assert ai.count() == 1
    usage = AiUsage.objects.get()
    assert not usage.ok and "retry after 20s" in usage.error and usage.cost == 0
    assert not Signal.objects.exists()
    assert_no_key_anywhere(e.value, repr(e.value.__context__))


def test_a_500_on_the_completion_is_not_retried(ai, source):
    ai.fail(500, "The server had an error").fail(500).fail(500)
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert "HTTP 500: The server had an error" in e.value.message
    assert ai.count() == 1 and AiUsage.objects.filter(ok=False).count() == 1 and not Signal.objects.exists()


def test_a_401_names_the_setting_without_the_key(ai, source):
    ai.fail(401, f"Incorrect API key provided: {KEY}.")
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert "check SIGNALS_AI_API_KEY" in e.value.message
    assert_no_key_anywhere(e.value)


def test_a_timeout_is_a_single_request_and_a_failed_usage_row(ai, source, settings):
    settings.SIGNALS_AI_TIMEOUT = 0.3
    ai.hang(1.5)
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert "did not answer within 0.3s" in e.value.message and e.value.code == "ai_timeout"
    assert ai.count() == 1
    usage = AiUsage.objects.get()
    assert not usage.ok and usage.prompt_tokens == 0 and not Signal.objects.exists()


def test_an_unreachable_server_records_no_usage(ai, source, settings):
    settings.SIGNALS_AI_BASE_URL = "http://127.0.0.1:9/v1"  # discard port: connection refused
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert e.value.message == "AI model unreachable."
    assert not AiUsage.objects.exists() and not Signal.objects.exists()


def test_reads_are_retried_with_backoff(ai):
    ai.fail(503).fail(500)
    assert ai_check(backoff=0.01) == sorted(MODELS)
    assert ai.count("/models") == 3


def test_a_read_gives_up_after_its_attempts(ai):
    ai.fail(500).fail(500).fail(500).fail(500)
    with pytest.raises(ApplicationError) as e:
        ai_check(attempts=3, backoff=0.01)
    assert "(3 attempts)" in e.value.message and ai.count("/models") == 3


def test_a_refused_read_is_not_retried(ai):
    ai.fail(401, KEY)
    with pytest.raises(ApplicationError) as e:
        ai_check(backoff=0.01)
    assert ai.count() == 1
    assert_no_key_anywhere(e.value)


# -- off and budget ---------------------------------------------------------------------------------
def test_without_a_key_the_factor_is_off_and_sends_nothing(ai, source, settings):
    settings.SIGNALS_AI_API_KEY = ""
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert e.value.message == AI_OFF and e.value.code == "ai_off"
    with pytest.raises(ApplicationError):
        ai_check()
    assert ai.count() == 0 and not AiUsage.objects.exists()


def test_a_spent_budget_makes_no_request_and_stores_nothing(ai, source):
    now = timezone.now()
    AiUsage.objects.create(organization=source.organization, model="m", cost=Decimal("3"))
    AiUsage.objects.create(organization=source.organization, model="m", cost=Decimal("2"))
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert e.value.message == f"AI budget of 5 USD for {now:%B %Y} is spent (5 USD used)."
    assert ai.count() == 0 and AiUsage.objects.count() == 2 and not Signal.objects.exists()


def test_last_months_spend_and_other_organizations_do_not_count(ai, source, org_b):
    start, _ = month_bounds(timezone.now())
    old = AiUsage.objects.create(organization=source.organization, model="m", cost=Decimal("9"))
    AiUsage.objects.filter(pk=old.pk).update(created_at=start - dt.timedelta(seconds=1))
    AiUsage.objects.create(organization=org_b, model="m", cost=Decimal("9"))
    AiUsage.objects.create(organization=source.organization, model="m", cost=Decimal("4.99"))
    ai.answer_with(GOOD, prompt=10, completion=10)
    assert run(source).side == "buy" and ai.count() == 1


@pytest.mark.parametrize("limit", [None, Decimal("0")])
def test_no_budget_means_no_calls(ai, source, limit):
    if limit is None:
        AiBudget.objects.all().delete()
    else:
        AiBudget.objects.update(monthly_limit=limit)
    with pytest.raises(ApplicationError) as e:
        run(source)
    assert "no budget" in e.value.message and ai.count() == 0


def test_a_candle_with_its_signal_already_is_not_paid_for_twice(ai, source):
    bar = timezone.now().replace(minute=0, second=0, microsecond=0)
    ai.answer_with(GOOD, prompt=10, completion=10)
    run(source, bar_ts=bar)
    with pytest.raises(ApplicationError) as e:
        run(source, bar_ts=bar)
    assert e.value.field == "bar_ts" and ai.count() == 1


def test_only_an_ai_source_calls(ai, org_a):
    AiBudget.objects.create(organization=org_a, monthly_limit=Decimal("5"))
    with pytest.raises(ApplicationError):
        run(SignalSourceFactory(organization=org_a, kind="engine"))
    assert ai.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_calls_cannot_both_spend_the_last_of_the_budget(ai, source):
    # 4.999 of 5 USD spent; the first call costs 0.0024 and takes the budget over, so the second,
    # waiting on the budget row's lock meanwhile, must see it spent and send nothing. Without the
    # lock both would pass the check during the first call's half second at the server.
    AiUsage.objects.create(organization=source.organization, model="m", cost=Decimal("4.999"))
    ai.then(Step(body=completion(GOOD, prompt=1200, completion=300), delay=0.5))
    messages = ai_prompt(symbol="BTC/USDT", timeframe="1h", factors=FACTORS, bars=bars())
    outcomes: list[object] = []

    def call():
        try:
            outcomes.append(ai_complete(organization_id=source.organization_id, messages=messages).answer.side)
        except ApplicationError as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(outcomes) == 2 and outcomes.count("buy") == 1
    assert any("AI budget of 5 USD" in str(o) and "is spent" in str(o) for o in outcomes)
    assert ai.count() == 1
    assert sorted(AiUsage.objects.values_list("cost", flat=True)) == [Decimal("0.0024"), Decimal("4.999")]


def test_cost_and_month_are_worked_by_hand(settings):
    settings.SIGNALS_AI_PRICE_PER_1K_PROMPT = Decimal("0.0025")
    settings.SIGNALS_AI_PRICE_PER_1K_COMPLETION = Decimal("0.01")
    # 1/1000 * 0.0025 + 3/1000 * 0.01
    assert usage_cost(prompt_tokens=1, completion_tokens=3) == Decimal("0.0000325")
    start, end = month_bounds(dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC))
    assert (start, end) == (dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
