"""Simulated far ends: a profile becomes a tiny dialplan script, the rule table picks it.

A script is a list of dialplan applications, exactly as the trace recorder's `sim-phones`
context spelled them: `Ringing`, `Wait(2)`, `Answer`, `Playback(hello-world)`,
`SendDTMF(1)`, `Hangup(21)`, `Busy(5)`, `Congestion(5)`, `Progress`. For a Local endpoint
the ;2 half runs it and reports each step as ChannelDialplan; for PJSIP the same steps
stand for the carrier's SIP answers (180, 183, 200, 486, 503, 404, 603, BYE).
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Sequence

import msgspec

from asterisk.sim.config import Profile, Rule, SimConfig

KNOWN_APPS = frozenset(
    {"Ringing", "Wait", "Answer", "Playback", "SendDTMF", "Hangup", "Busy", "Congestion",
     "Progress"}
)
_STEP_RE = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$")


class ScriptError(ValueError):
    """A script step cannot be parsed."""


class Step(msgspec.Struct, frozen=True):
    app: str
    data: str = ""

    @property
    def seconds(self) -> float:
        """Wait duration (Wait) in simulated seconds."""
        return float(self.data) if self.data else 0.0

    @property
    def cause(self) -> int:
        """Hangup cause (Hangup), default 16."""
        first = self.data.split(",")[0].strip()
        return int(first) if first else 16

    @property
    def tech_cause(self) -> int | None:
        parts = self.data.split(",")
        return int(parts[1]) if len(parts) > 1 and parts[1].strip() else None


def parse_step(text: str) -> Step:
    match = _STEP_RE.match(text)
    if not match:
        raise ScriptError(f"cannot parse step {text!r} (expected App or App(data))")
    app, data = match.group(1), (match.group(2) or "").strip()
    if app not in KNOWN_APPS:
        raise ScriptError(f"unknown application {app!r} in {text!r}; known: {sorted(KNOWN_APPS)}")
    step = Step(app, data)
    try:
        if app == "Wait":
            if step.seconds < 0:
                raise ValueError
        elif app == "Hangup":
            _ = step.cause, step.tech_cause
    except ValueError as exc:
        raise ScriptError(f"bad argument in {text!r}") from exc
    if app == "SendDTMF" and not re.fullmatch(r"[0-9A-D*#]+", data):
        raise ScriptError(f"SendDTMF needs digits 0-9, A-D, * or #: {text!r}")
    if app == "Playback" and not data:
        raise ScriptError(f"Playback needs a sound name: {text!r}")
    return step


def parse_script(lines: Sequence[str]) -> list[Step]:
    return [parse_step(line) for line in lines]


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _answered(ring_s: float, talk_s: float | None, middle: list[Step] | None = None) -> list[Step]:
    steps = [Step("Ringing"), Step("Wait", _fmt(ring_s)), Step("Answer")]
    steps += middle or []
    if talk_s is None:
        steps.append(Step("Wait", "86400"))
    else:
        steps += [Step("Wait", _fmt(talk_s)), Step("Hangup")]
    return steps


def compile_profile(profile: Profile, rng: random.Random) -> list[Step]:
    """The script one call to this far end runs (random profiles draw here)."""
    kind = profile.kind
    if kind == "script":
        return parse_script(profile.script)
    if kind == "answer":
        middle = [Step("Playback", profile.play)] if profile.play else None
        return _answered(profile.ring_s, profile.talk_s, middle)
    if kind == "nonexistent":
        return []
    if kind == "busy":
        return [Step("Busy", "5")]
    if kind == "congestion":
        return [Step("Congestion", "5")]
    if kind == "unallocated":
        return [Step("Hangup", "1")]
    if kind == "noanswer":
        return [Step("Ringing"), Step("Wait", "600")]
    if kind == "reject":
        return [Step("Ringing"), Step("Wait", _fmt(profile.ring_s)), Step("Hangup", "21")]
    if kind == "unavailable":
        return [Step("Ringing"), Step("Wait", _fmt(profile.ring_s)), Step("Hangup", "19,480")]
    if kind == "voicemail":
        greeting = [Step("Playback", profile.play or "vm-intro")]
        return _answered(profile.ring_s, profile.talk_s or 30.0, greeting)
    if kind == "answer_dtmf":
        middle = [Step("Wait", _fmt(profile.digit_after_s)), Step("SendDTMF", profile.digit)]
        talk = None if profile.talk_s is None else max(profile.talk_s - profile.digit_after_s, 0)
        return _answered(profile.ring_s, talk, middle)
    if kind == "early_media":
        steps = [Step("Progress"), Step("Wait", _fmt(profile.early_media_s))]
        if profile.play:
            steps.append(Step("Playback", profile.play))
        return [*steps, Step("Answer"), Step("Wait", _fmt(profile.talk_s or 86400))]
    if kind == "random":
        return _random_script(profile, rng)
    raise ScriptError(f"unknown profile kind {kind!r}")


def _random_script(profile: Profile, rng: random.Random) -> list[Step]:
    draw = rng.random()
    ring = round(rng.uniform(profile.ring_min_s, profile.ring_max_s), 1)
    if draw < profile.answer_probability:
        talk = round(rng.uniform(profile.talk_min_s, profile.talk_max_s), 1)
        return _answered(ring, talk)
    if draw < profile.answer_probability + profile.busy_probability:
        return [Step("Busy", "5")]
    return [Step("Ringing"), Step("Wait", "600")]


class PhoneBook:
    """The rule table: endpoint -> script. First matching rule wins."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        self._rules: list[tuple[re.Pattern[str], Rule]] = [
            (re.compile(fnmatch.translate(rule.pattern)), rule) for rule in config.rules
        ]

    def profile_name_for(self, endpoint: str) -> str:
        for pattern, rule in self._rules:
            if pattern.match(endpoint):
                return rule.profile
        return self._config.default_profile

    def script_for(self, endpoint: str) -> list[Step]:
        tech, _, resource = endpoint.partition("/")
        if tech.lower() == "local":
            context = resource.partition("@")[2] or "default"
            if context not in self._config.local_contexts:
                return []  # no such context: Asterisk destroys both halves, cause 0
        profile = self._config.profiles[self.profile_name_for(endpoint)]
        return compile_profile(profile, self._rng)
