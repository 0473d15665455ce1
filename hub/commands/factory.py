"""Wire commands for the hub's actions, built the same way when issued and when re-delivered."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devices.payloads import Command, LightSet, SpeakerPlay, SpeakerStop, SpeakerVolume

# action name -> (device kind it applies to, wire model)
ACTIONS: dict[str, tuple[str, type[Command]]] = {
    "light.set": ("light", LightSet),
    "speaker.volume": ("speaker", SpeakerVolume),
    "speaker.stop": ("speaker", SpeakerStop),
    "speaker.play": ("speaker", SpeakerPlay),
}

# wire model -> action name, e.g. LightSet -> "light.set" (for metrics and logs)
ACTION_OF: dict[type[Command], str] = {model: name for name, (_, model) in ACTIONS.items()}


def build(action: str, params: dict[str, Any], command_id: str, exp_ms: int) -> Command:
    """The wire command for ``action`` with its id and expiry (epoch ms)."""
    _, model = ACTIONS[action]
    # Through JSON, as a device would read it: stored params hold enums as their strings.
    return model.model_validate_json(json.dumps({**params, "id": command_id, "exp": exp_ms}))


def copies(action: str, params: dict[str, Any]) -> Callable[[str, int], Command]:
    """Builds ``action``'s wire command for each device of a fan-out from its id and expiry.

    Validated once, here, before anything is stored; each device's command is a copy with
    its own id and expiry (validating a thousand times was a large part of a zone command).
    """
    proto = build(action, params, "proto", 0)
    return lambda command_id, exp_ms: proto.model_copy(update={"id": command_id, "exp": exp_ms})
