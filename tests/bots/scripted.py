"""A test strategy whose decision is chosen by its `action` parameter, so runtime tests control
exactly which intents a tick produces without depending on market conditions."""

from decimal import Decimal

from strategies import registry
from strategies.base import Decision, OrderIntent
from strategies.registry import Param, StrategySpec

KEY = "scripted"
ACTIONS = ("none", "buy", "sell", "buy_limit", "exit", "buy_and_exit", "raise", "two_buys", "buy_protected")


def decide(ctx):
    action, amount = ctx.params["action"], ctx.params["amount"]
    ticks = int(ctx.state.get("ticks", 0)) + 1
    state = {"ticks": ticks}
    below = (ctx.last_price * Decimal("0.9")).quantize(Decimal("0.01"))
    exit_ = ()
    if ctx.position.quantity > 0:
        exit_ = (OrderIntent("sell", ctx.position.quantity, tag="exit", exit=True),)
    elif ctx.position.quantity < 0:
        exit_ = (OrderIntent("buy", -ctx.position.quantity, tag="exit", exit=True),)
    if action == "raise":
        raise RuntimeError("the strategy failed on purpose")
    if action == "buy":
        return Decision(intents=(OrderIntent("buy", amount, tag="entry"),), state=state, note="scripted buy")
    if action == "buy_protected":  # an entry carrying its own stop-loss and take-profit
        stop, take = ((ctx.last_price * Decimal(k)).quantize(Decimal("0.01")) for k in ("0.97", "1.05"))
        entry = OrderIntent("buy", amount, tag="entry", stop_loss=stop, take_profit=take)
        return Decision(intents=(entry,), state=state, note="scripted protected buy")
    if action == "sell":
        return Decision(intents=(OrderIntent("sell", amount, tag="entry"),), state=state, note="scripted sell")
    if action == "two_buys":
        return Decision(intents=(OrderIntent("buy", amount, tag="a"), OrderIntent("buy", amount, tag="b")), state=state)
    if action == "buy_limit":
        return Decision(intents=(OrderIntent("buy", amount, type="limit", price=below, tag="bid"),), state=state)
    if action == "exit":
        return Decision(intents=exit_, state=state)
    if action == "buy_and_exit":
        return Decision(intents=(OrderIntent("buy", amount, tag="entry"), *exit_), state=state)
    return Decision(state=state, note="idle")


SPEC = StrategySpec(
    key=KEY,
    label="Scripted (tests)",
    summary="Does what its action parameter says.",
    params=(
        Param("action", "str", "none", "What to do each tick.", choices=ACTIONS),
        Param("amount", "decimal", Decimal("0.001"), "Base amount per order.", Decimal("0.00000001"), None),
    ),
    decide=decide,
)


def install() -> None:
    registry._load_builtins()
    registry._REGISTRY[KEY] = SPEC


def uninstall() -> None:
    registry._REGISTRY.pop(KEY, None)
