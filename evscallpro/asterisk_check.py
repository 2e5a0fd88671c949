"""What `serve` checks in Asterisk at start, through ARI, before it takes calls.

A stock Asterisk can run, accept ARI and still leave an agent in silence: a prompt that is
not installed plays nothing, no music-on-hold module means `POST /moh` answers 204 and
nothing plays, no recording module means every RecordBridge fails. What ARI can tell is
checked here, once, with the `[ari]` credentials (read-only requests):

- every `sound:` of the configured prompts, in the configured language (`GET /sounds?lang=`):
  missing there but in English → warning (Asterisk falls back to `en`); missing in every
  language → error;
- `res_musiconhold.so` running when hold audio is music on hold; `res_stasis_recording.so`
  when calls are recorded; `res_stasis_playback.so` (`GET /asterisk/modules/{name}`) →
  error when not;
- `codec_opus.so` → warning when absent (softphones must then offer G.711 first).

Policy (docs/asterisk.md, "Start-up check"): any error refuses the start (`serve` exits 2
and names each problem); warnings are printed and the start goes on. When ARI cannot be
reached the check is skipped with a warning: the core's own start then fails with the ARI
error. ARI cannot list music-on-hold classes or test the recording folder: those are left
to `explain_command_failure`, which logs once, clearly, what a failed RecordBridge means.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.call_config import HoldAudio
from core.settings import CoreSettings

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0
DOC = "docs/asterisk.md"


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "error" | "warning"
    check: str  # "sound", "module", "ari"
    detail: str

    def as_event(self) -> dict[str, str]:
        return {"event": "asterisk_check", "level": self.level, "check": self.check,
                "detail": self.detail}


class AriReader:
    """GET requests on ARI with HTTP Basic auth; never puts the password in an error."""

    def __init__(self, url: str, user: str, password: str, timeout_s: float = TIMEOUT_S) -> None:
        self.base = url.rstrip("/") + "/ari"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self.timeout_s = timeout_s

    def get(self, path: str, **params: str) -> tuple[int, Any]:
        """(status, decoded JSON body or None); raises OSError when ARI is unreachable."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(self.base + path + query, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"null")
            except ValueError:
                body = None
            return exc.code, body


def prompt_sounds(settings: CoreSettings) -> dict[str, list[str]]:
    """{sound name: [prompt fields using it]} of the configured language's prompts."""
    prompts = getattr(settings.prompts, settings.prompts.language)
    used: dict[str, list[str]] = {}
    for field in prompts.__struct_fields__:
        for media in getattr(prompts, field):
            scheme, _, name = media.partition(":")
            if scheme == "sound":
                used.setdefault(name, []).append(field)
    return used


def _sound_ids(ari: AriReader, language: str) -> set[str]:
    status, body = ari.get("/sounds", lang=language)
    if status == 404:  # "No sounds found that matched the query"
        return set()
    if status != 200 or not isinstance(body, list):
        raise OSError(f"GET /sounds?lang={language} answered {status}")
    return {str(sound.get("id")) for sound in body if isinstance(sound, dict)}


def check_sounds(ari: AriReader, settings: CoreSettings) -> list[Finding]:
    language = settings.prompts.language
    used = prompt_sounds(settings)
    if not used:
        return []
    have = _sound_ids(ari, language)
    english = _sound_ids(ari, "en") if language != "en" else have
    findings = []
    for name, fields in sorted(used.items()):
        where = f"prompts.{language}.{'/'.join(fields)}"
        if name.startswith("/"):
            findings.append(Finding("warning", "sound", f"{where}: sound:{name} is a path "
                                    "outside Asterisk's sounds folder; ARI cannot check it"))
        elif name in have:
            continue
        elif name in english:
            findings.append(Finding("warning", "sound", f"{where}: sound:{name} is not "
                                    f"installed in '{language}'; Asterisk will play it in English"))
        else:
            findings.append(Finding("error", "sound", f"{where}: sound:{name} does not exist "
                                    f"in Asterisk (not in '{language}' nor 'en'): the agent "
                                    "would hear nothing. Install the sound or pick one of the "
                                    f"core set ({DOC}, \"Sounds\")"))
    return findings


def _module_running(ari: AriReader, module: str) -> bool:
    status, _ = ari.get(f"/asterisk/modules/{module}")
    if status == 200:
        return True
    if status == 404:
        return False
    raise OSError(f"GET /asterisk/modules/{module} answered {status}")


def required_modules(settings: CoreSettings) -> dict[str, str]:
    """{module: why it is needed} for this configuration."""
    needed = {"res_stasis_playback.so": "prompts (press 1, customer busy...) are played with it"}
    if settings.hold.audio is HoldAudio.MOH:
        needed["res_musiconhold.so"] = (
            f"hold audio is music on hold (class '{settings.hold.moh_class}'): without it "
            "POST /moh answers 204 and the agent hears silence")
    if settings.recording.enabled:
        needed["res_stasis_recording.so"] = "calls are recorded ([recording] enabled)"
    return needed


def check_modules(ari: AriReader, settings: CoreSettings) -> list[Finding]:
    findings = []
    for module, why in required_modules(settings).items():
        if not _module_running(ari, module):
            findings.append(Finding("error", "module", f"{module} is not running in "
                                    f"Asterisk; {why} (`module load {module}`, {DOC})"))
    if not _module_running(ari, "codec_opus.so"):
        findings.append(Finding("warning", "module", "codec_opus.so is not running: "
                                "softphone endpoints must offer G.711 (ulaw/alaw) first, or "
                                f"playback, MOH, recording and bridging to the trunk fail ({DOC})"))
    return findings


def check_asterisk(settings: CoreSettings, ari: AriReader | None = None) -> list[Finding]:
    """Every finding, errors first. ARI unreachable: one warning, nothing else checked."""
    reader = ari or AriReader(settings.ari.url, settings.ari.user, settings.ari.password)
    try:
        status, _ = reader.get("/asterisk/info")
        if status == 401:
            return [Finding("error", "ari", f"ARI at {reader.base} refused user "
                            f"'{settings.ari.user}' (401): check [ari] user and password")]
        findings = check_sounds(reader, settings) + check_modules(reader, settings)
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc
        return [Finding("warning", "ari", f"cannot check Asterisk at {reader.base}: {reason}; "
                        "check skipped")]
    return sorted(findings, key=lambda f: f.level != "error")


def run_start_check(settings: CoreSettings, emit: Callable[[dict[str, Any]], None]) -> bool:
    """`serve`'s hook: emit each finding, log it, and say whether the start may go on."""
    findings = check_asterisk(settings)
    for finding in findings:
        emit(finding.as_event())
        (log.error if finding.level == "error" else log.warning)(
            "asterisk check: %s", finding.detail)
    return not errors(findings)


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


# --- failures ARI cannot foresee ------------------------------------------------------------

_explained: set[str] = set()
_explained_lock = threading.Lock()

_EXPLANATIONS = {
    "bridge_record": (
        "Asterisk refused to record a call (RecordBridge answered {status}: {message}). "
        "The usual cause is a missing or unwritable recording folder: Asterisk writes to "
        "<astspooldir>/recording (Debian: /var/spool/asterisk/recording), which must exist "
        "and belong to the asterisk user. Calls go on unrecorded. See " + DOC + "."
    ),
}


def explain_command_failure(op: str, status: int, message: str) -> None:
    """Log once per operation, at ERROR, what a failed ARI command says about Asterisk's
    set-up (cheap; called for every failed command)."""
    text = _EXPLANATIONS.get(op)
    if text is None or op in _explained:
        return
    with _explained_lock:
        if op in _explained:
            return
        _explained.add(op)
    log.error(text.format(status=status, message=message or "no message"))
