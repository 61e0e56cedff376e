"""A rendered Hummingbot config: its file, its values in Hummingbot's key order, and the forms the
MQTT bridge needs (`/config` pairs, `/import` name, `/start` fields, conf_client.yml overrides).

YAML is written with exact Decimals: `Decimal("0.3")` is written `0.3`, never through a float, so
no `0.30000000000000004` reaches a file.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

from core.errors import ApplicationError

V1_FOLDER = "strategies"
CONTROLLERS_FOLDER = "controllers"
SCRIPTS_FOLDER = "scripts"
KILL_SWITCH_ENABLED = "kill_switch_enabled"


def plain(value: Decimal) -> str:
    """A Decimal as plain digits: no exponent, no trailing zeros (1E+2 -> 100, 0.500 -> 0.5)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value shared by two keys is written twice, never as an anchor


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = plain(value)
    tag = "tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int"
    return dumper.represent_scalar(tag, text)


_Dumper.add_representer(Decimal, _represent_decimal)
_Dumper.add_representer(tuple, yaml.SafeDumper.represent_list)


def text(value: Any) -> str:
    """A value as one would type it at Hummingbot's prompt (what `/config` expects)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, list | tuple):
        return ",".join(text(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class HummingbotConfig:
    """One Hummingbot config file.

    `strategy` is the V1 strategy name, or the controller / script name for V2; `folder` is where
    it goes under the instance's conf/ ("strategies", "controllers" or "scripts"). `values` keeps
    Hummingbot's key order; a mode key holds a mapping and its sub-model title is in `modes`.
    `sources` says which of our inputs each derived key came from. `client` holds conf_client.yml
    overrides (the kill switch), `balance_limits` the `/balance/limit` calls (connector, asset,
    amount) and `runner` the V2 script config that loads a controller."""

    strategy: str
    file_name: str
    folder: str
    values: dict[str, Any]
    modes: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    balance_limits: tuple[tuple[str, str, Decimal], ...] = ()
    runner: HummingbotConfig | None = None

    @property
    def is_v2(self) -> bool:
        return self.folder != V1_FOLDER

    def yaml(self) -> str:
        """The file's text: a header comment, then the keys in Hummingbot's order."""
        where = f"conf/{self.folder}/{self.file_name}"
        body = yaml.dump(self.values, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
        return (
            f"# Hummingbot {self.strategy} config ({where}); regenerated from the bot, edits are overwritten.\n{body}"
        )

    def params_for_config_command(self) -> list[list[str]]:
        """[key, value] pairs for the MQTT `/config` command after `/import` of this V1 file.

        Values are text as typed at Hummingbot's prompt. `strategy` and `template_version` cannot be
        configured and keys without a value keep Hummingbot's default. A mode is sent as its title
        and then each sub-key as `<mode>.<key>`, the paths Hummingbot's config command accepts."""
        if self.is_v2:
            raise ApplicationError(
                f"{self.strategy} is a V2 config: Hummingbot reads it from conf/{self.folder}/, "
                "the /config command does not set it.",
                field="target",
            )
        pairs: list[list[str]] = []
        for key, value in self.values.items():
            if key in ("strategy", "template_version") or value is None:
                continue
            if key in self.modes:
                pairs.append([key, self.modes[key]])
                pairs.extend([f"{key}.{sub}", text(v)] for sub, v in value.items() if v is not None)
            else:
                pairs.append([key, text(value)])
        return pairs

    def client_overrides(self) -> dict[str, Any]:
        """conf_client.yml keys to set, as the file nests them: {} when there is nothing to set,
        else `{"kill_switch_mode": {"kill_switch_rate": <negative %>}}`."""
        return copy.deepcopy(self.client)

    def client_params_for_config_command(self) -> list[list[str]]:
        """The client overrides as `/config` pairs (the mode title first, then its rate)."""
        mode = self.client.get("kill_switch_mode")
        if not mode:
            return []
        return [
            ["kill_switch_mode", KILL_SWITCH_ENABLED],
            ["kill_switch_mode.kill_switch_rate", text(mode["kill_switch_rate"])],
        ]

    @property
    def import_name(self) -> str | None:
        """What `/import` takes for a V1 file (its name without .yml); None for V2."""
        return None if self.is_v2 else self.file_name.removesuffix(".yml")

    def start_fields(self) -> dict[str, Any]:
        """`/start` request fields: none for V1 (import first); script and conf for V2."""
        if not self.is_v2:
            return {}
        conf = self.runner or self
        return {"script": conf.values["script_file_name"], "conf": conf.file_name}

    def files(self) -> list[tuple[str, str, str]]:
        """Every file to write, as (folder under conf/, file name, text): this one, then its runner."""
        out = [(self.folder, self.file_name, self.yaml())]
        if self.runner is not None:
            out.extend(self.runner.files())
        return out
