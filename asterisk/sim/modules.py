"""`GET /asterisk/modules/{moduleName}`: the Asterisk modules the simulated server runs.

As res/ari/resource_asterisk.c answers: the module's name, description, use count, status
and support level, or 404 "Module could not be found in running modules". The list holds
the modules EVSCallPro relies on (Stasis, playback, recording, music on hold, PJSIP, the
G.711 codecs); `unloaded_modules` in the simulator config removes some, and by default
removes `codec_opus.so`, which a stock Asterisk build does not have (it is a separate
binary download). Descriptions and use counts are the simulator's own (guessed).
"""

from __future__ import annotations

from typing import Any

from asterisk.sim.engine_base import AriError

RUNNING: dict[str, str] = {
    "res_ari.so": "Asterisk RESTful Interface",
    "res_stasis.so": "Stasis application support",
    "res_stasis_playback.so": "Stasis application playback support",
    "res_stasis_recording.so": "Stasis application recording support",
    "res_stasis_snoop.so": "Stasis application snoop support",
    "res_musiconhold.so": "Music On Hold Resource",
    "res_pjsip.so": "Basic SIP resource",
    "chan_pjsip.so": "PJSIP Channel Driver",
    "codec_ulaw.so": "mu-Law Coder/Decoder",
    "codec_alaw.so": "A-law Coder/Decoder",
    "codec_opus.so": "Opus Coder/Decoder",
    "format_wav.so": "Microsoft WAV/WAV16 format (8kHz/16kHz Signed Linear)",
    "res_http_websocket.so": "HTTP WebSocket Support",
}


def module_json(name: str, unloaded: list[str]) -> dict[str, Any]:
    if name not in RUNNING or name in unloaded:
        raise AriError(404, "Module could not be found in running modules")
    return {"name": name, "description": RUNNING[name], "use_count": 0,
            "status": "Running", "support_level": "core"}
