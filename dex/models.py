"""DEX trading through Hummingbot Gateway: an organization's Gateway connections and the Solana
wallets registered in them.

A `GatewayConnection` is one Gateway server: a local one over plain HTTP (Gateway's dev mode, on
a loopback address only), or a remote one over HTTPS with the client certificate Gateway's
mutual TLS asks for. The certificate's key is encrypted at rest and write-only. A `DexWallet` is
an address Gateway signs for: its private key goes to Gateway once, when the wallet is added, and
is never stored, logged, returned or rendered here.
"""

from __future__ import annotations

from django.db import models

from exchanges.fields import SecretField
from exchanges.secrets import mask
from organizations.tenancy import OrganizationOwned


class GatewayStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    ACTIVE = "active", "Active"
    ERROR = "error", "Error"


class Chain(models.TextChoices):
    SOLANA = "solana", "Solana"


class GatewayConnection(OrganizationOwned):
    name = models.CharField(max_length=64)
    url = models.URLField(help_text="http://127.0.0.1:15888 for a local Gateway in dev mode; https://... otherwise.")
    network = models.CharField(max_length=32, default="mainnet-beta", help_text="The Solana network Gateway uses.")
    client_cert = models.TextField(blank=True, help_text="PEM client certificate for Gateway's mutual TLS.")
    client_key = SecretField(blank=True, default="", help_text="PEM key of the client certificate (encrypted).")
    ca_cert = models.TextField(blank=True, help_text="PEM certificate of the CA that signed Gateway's certificate.")
    status = models.CharField(max_length=16, choices=GatewayStatus.choices, default=GatewayStatus.UNVERIFIED)
    status_reason = models.CharField(max_length=500, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    block_number = models.BigIntegerField(null=True, blank=True, help_text="The chain's slot at the last check.")
    rpc_provider = models.CharField(max_length=64, blank=True)
    swap_provider = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="gateway_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    @property
    def uses_tls(self) -> bool:
        return self.url.startswith("https://")

    @property
    def masked_client_key(self) -> str:
        return mask(self.client_key)


class DexWallet(OrganizationOwned):
    connection = models.ForeignKey(GatewayConnection, on_delete=models.PROTECT, related_name="wallets")
    chain = models.CharField(max_length=16, choices=Chain.choices, default=Chain.SOLANA)
    address = models.CharField(max_length=64)
    label = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connection", "label", "address"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "chain", "address"], name="dexwallet_unique_address")
        ]

    def __str__(self) -> str:
        return f"{self.label or self.chain} {self.address[:4]}\u2026{self.address[-4:]}"


class SwapSide(models.TextChoices):
    BUY = "buy", "Buy"  # buy exactly `amount` of the base token with the quote token
    SELL = "sell", "Sell"  # sell exactly `amount` of the base token for the quote token


class SwapStatus(models.TextChoices):
    NEW = "new", "New"  # stored, nothing asked yet
    QUOTED = "quoted", "Quoted"
    SUBMITTED = "submitted", "Submitted"  # execute was sent: the outcome is not known yet
    CONFIRMED = "confirmed", "Confirmed"
    FAILED = "failed", "Failed"  # refused before sending, or failed on chain
    EXPIRED = "expired", "Expired"  # never landed and cannot any more: safe to try again


SWAP_TERMINAL = (SwapStatus.CONFIRMED, SwapStatus.FAILED, SwapStatus.EXPIRED)


class DexSwap(OrganizationOwned):
    """One swap through Gateway (Jupiter), written before anything is sent so that no outcome is
    lost: quoted, then marked submitted before execute, then confirmed, failed or expired as the
    chain tells. A submitted swap is never sent again; `intent_key` makes a retried request find
    it. When execute's answer was lost (no signature), the wallet's balances before and after
    decide once the transaction's blockhash can no longer land."""

    wallet = models.ForeignKey(DexWallet, on_delete=models.PROTECT, related_name="swaps")
    intent_key = models.CharField(max_length=96, help_text="Names the swap for its caller (a bot: bot:<id>:...).")
    base = models.CharField(max_length=64, help_text="Base token symbol or mint.")
    quote = models.CharField(max_length=64, help_text="Quote token symbol or mint.")
    side = models.CharField(max_length=4, choices=SwapSide.choices)
    amount = models.DecimalField(max_digits=38, decimal_places=18, help_text="Of the base token.")
    slippage_bps = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=SwapStatus.choices, default=SwapStatus.NEW)
    quote_id = models.CharField(max_length=64, blank=True)
    quoted_price = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    limit_amount = models.DecimalField(
        max_digits=38, decimal_places=18, null=True, blank=True, help_text="Min out (sell) or max in (buy)."
    )
    signature = models.CharField(max_length=100, blank=True, db_index=True)
    amount_in = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    amount_out = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    fee = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True, help_text="In SOL.")
    balances_before = models.JSONField(default=dict, blank=True, help_text="Base and quote, read before execute.")
    error = models.CharField(max_length=500, blank=True)
    polls = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["wallet", "intent_key"], name="dexswap_unique_intent")]
        indexes = [models.Index(fields=["status", "submitted_at"], name="dexswap_status_idx")]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.base}/{self.quote} ({self.status})"


DEX_LIVE = "jupiter"  # an ExchangeAccount.exchange: swaps from a wallet through Gateway
DEX_PAPER = "jupiter_paper"  # quotes from Gateway, fills simulated in the paper ledger


class DexAccount(OrganizationOwned):
    """What makes an exchange account a DEX account: the Gateway that quotes (and swaps) for it,
    the wallet it swaps from (live only), the slippage limit of its swaps and the pairs it
    trades. Bots trade it like any exchange account: a market order is one swap."""

    account = models.OneToOneField(
        "exchanges.ExchangeAccount", on_delete=models.CASCADE, related_name="dex", help_text="Its exchange account."
    )
    connection = models.ForeignKey(GatewayConnection, on_delete=models.PROTECT, related_name="accounts")
    wallet = models.ForeignKey(
        DexWallet,
        on_delete=models.PROTECT,
        related_name="accounts",
        null=True,
        blank=True,
        help_text="The wallet swaps are sent from (none for a paper account).",
    )
    slippage_bps = models.PositiveIntegerField(default=50, help_text="Each swap's slippage limit, in basis points.")
    pairs = models.JSONField(default=list, blank=True, help_text='Pairs it trades, e.g. ["SOL/USDC"].')
    quote_amount = models.DecimalField(
        max_digits=38,
        decimal_places=18,
        default=1,
        help_text="Base amount the price (bid and ask) is quoted for.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account__label"]

    def __str__(self) -> str:
        return f"DEX account {self.account.label}"

    @property
    def is_paper(self) -> bool:
        return self.wallet_id is None


class Sniper(OrganizationOwned):
    """Watches a source of new Solana tokens, vets each listing, buys a risk-sized amount of the
    ones that pass through its DEX account, and sells each at its take-profit or stop-loss. Paper
    unless its account is live (and `live` is set): every decision goes to the event log."""

    name = models.CharField(max_length=64)
    account = models.ForeignKey(DexAccount, on_delete=models.PROTECT, related_name="snipers")
    live = models.BooleanField(default=False, help_text="Trade real funds (needs a live DEX account).")
    enabled = models.BooleanField(default=True)
    source_url = models.URLField(help_text="A JSON feed of new tokens (see docs/dex.md for its fields).")
    quote_token = models.CharField(max_length=44, default="SOL", help_text="What it buys with (symbol or mint).")
    min_liquidity_usd = models.DecimalField(max_digits=38, decimal_places=2, default=10000)
    blacklist = models.JSONField(default=list, blank=True, help_text="Mints, symbols or creators never bought.")
    refuse_mint_authority = models.BooleanField(default=True, help_text="Refuse a token whose supply can grow.")
    refuse_freeze_authority = models.BooleanField(default=True, help_text="Refuse a token whose holders can be frozen.")
    max_top_holders_pct = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True, help_text="Refuse above this share held by the top 10."
    )
    risk_pct = models.DecimalField(
        max_digits=6, decimal_places=2, default=1, help_text="Share of the free quote balance put into one token, in %."
    )
    max_position_quote = models.DecimalField(
        max_digits=38, decimal_places=18, default=1, help_text="At most this much quote into one token."
    )
    max_open = models.PositiveIntegerField(default=3, help_text="Tokens held at once.")
    take_profit_pct = models.DecimalField(max_digits=8, decimal_places=2, default=50)
    stop_loss_pct = models.DecimalField(max_digits=8, decimal_places=2, default=20)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="sniper_unique_name")]

    def __str__(self) -> str:
        return f"Sniper {self.name} ({'live' if self.live else 'paper'})"


class SnipeStatus(models.TextChoices):
    REJECTED = "rejected", "Rejected"  # failed vetting: never bought
    BUYING = "buying", "Buying"  # the buy swap is out, its outcome not known yet
    OPEN = "open", "Open"
    SELLING = "selling", "Selling"
    CLOSED = "closed", "Closed"
    FAILED = "failed", "Failed"  # the buy did not go through


class SnipeToken(OrganizationOwned):
    """One token a sniper saw: its vetting, and when bought, its position and exit."""

    sniper = models.ForeignKey(Sniper, on_delete=models.CASCADE, related_name="tokens")
    mint = models.CharField(max_length=44)
    symbol = models.CharField(max_length=32, blank=True)
    listing = models.JSONField(default=dict, blank=True, help_text="The listing as the source gave it (vetted fields).")
    status = models.CharField(max_length=16, choices=SnipeStatus.choices)
    reason = models.CharField(max_length=500, blank=True)
    cost_quote = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    amount = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True, help_text="Tokens held.")
    entry_price = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    exit_price = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    proceeds_quote = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    exit_reason = models.CharField(max_length=16, blank=True)
    buy_swap = models.ForeignKey(DexSwap, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    sell_swap = models.ForeignKey(DexSwap, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    sells = models.PositiveIntegerField(default=0, help_text="Sell attempts (each with its own intent).")
    seen_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-seen_at"]
        constraints = [models.UniqueConstraint(fields=["sniper", "mint"], name="snipetoken_unique_mint")]
        indexes = [models.Index(fields=["sniper", "status"], name="snipetoken_status_idx")]

    def __str__(self) -> str:
        return f"{self.symbol or self.mint[:8]} ({self.status})"

    @property
    def pnl_quote(self):
        if self.proceeds_quote is None or self.cost_quote is None:
            return None
        return self.proceeds_quote - self.cost_quote
