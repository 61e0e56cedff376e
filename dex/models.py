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
