"""The ARI route table: one `Route` per operation, used BOTH to route requests (rest.py)
and to generate the Swagger 1.1 documents aioari reads (swagger.py).

Handlers take the engine and the decoded arguments (path, query and JSON body merged,
converted to the declared types) and return the JSON body, or None for 204.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asterisk.sim.engine import AriError, Engine
from asterisk.sim.model import HANGUP_REASONS
from asterisk.sim.modules import module_json

Args = dict[str, Any]
Handler = Callable[[Engine, Args], Any]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    param_type: str = "query"  # path | query | body
    data_type: str = "string"  # string | int | long | boolean | containers | double
    required: bool = False
    allow_multiple: bool = False
    description: str = ""
    default: Any = None


@dataclass(frozen=True, slots=True)
class Route:
    resource: str
    method: str
    path: str  # relative to /ari, e.g. /channels/{channelId}
    nickname: str
    summary: str
    response_class: str
    handler: Handler | None
    params: tuple[Param, ...] = ()
    status: int = 200
    upgrade: str | None = None
    error_responses: tuple[tuple[int, str], ...] = field(default=())

    @property
    def path_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.param_type == "path")


def _p(name: str, **kw: Any) -> Param:
    return Param(name, "path", required=True, **kw)


def _q(name: str, data_type: str = "string", **kw: Any) -> Param:
    return Param(name, "query", data_type, **kw)


_VARIABLES = Param("variables", "body", "containers",
                   description="JSON object {variables: {name: value}}")


# ---------------------------------------------------------------------------- handlers
def _hangup_cause(a: Args) -> int:
    code, reason = a.get("reason_code"), a.get("reason")
    if code is not None and reason is not None:
        raise AriError(400, "The reason code and the reason cannot both be specified")
    if code is not None:
        try:
            return int(code)
        except ValueError as exc:
            raise AriError(400, "Invalid reason for hangup reason_code provided") from exc
    if reason is not None:
        if reason not in HANGUP_REASONS:
            raise AriError(400, "Invalid reason for hangup reason provided")
        return HANGUP_REASONS[reason]
    return 16


def _originate(e: Engine, a: Args) -> Any:
    return e.originate(
        a.get("endpoint"), a.get("app"), a.get("appArgs") or "", a.get("callerId") or "",
        a.get("timeout", 30), a.get("variables"), a.get("channelId"),
        a.get("otherChannelId"), a.get("extension"),
    )


def _create(e: Engine, a: Args) -> Any:
    return e.create(a.get("endpoint"), a.get("app"), a.get("appArgs") or "",
                    a.get("variables"), a.get("channelId"), a.get("otherChannelId"))


def _play(e: Engine, a: Args) -> Any:
    return e.play(a["channelId"], a.get("media") or [], a.get("lang"), a.get("playbackId"))


def _snoop(e: Engine, a: Args) -> Any:
    return e.snoop(a["channelId"], a.get("app"), a.get("spy") or "none",
                   a.get("whisper") or "none", a.get("appArgs") or "", a.get("snoopId"))


def _record(e: Engine, a: Args) -> Any:
    return e.record_bridge(a["bridgeId"], a.get("name"), a.get("format"),
                           a.get("ifExists") or "fail", a.get("maxDurationSeconds") or 0)


def _stored_file(e: Engine, a: Args) -> Any:
    from asterisk.sim.recordings import KNOWN_FORMATS

    path = e.store.find(a["recordingName"])
    if path is None:
        raise AriError(404, "Recording not found")
    fmt = path.suffix.lstrip(".")
    if fmt not in KNOWN_FORMATS:
        raise AriError(500, "Format specified by recording not available or loaded")
    # res/ari/resource_recordings.c: "Content-Type: <media type>/<file extension>"
    return RawBody(path.read_bytes(), f"audio/{fmt}")


@dataclass(frozen=True, slots=True)
class RawBody:
    data: bytes
    content_type: str


_CH = _p("channelId")
_BR = _p("bridgeId")
_ORIGINATE_PARAMS = (
    _q("endpoint", required=True), _q("extension"), _q("context"), _q("priority", "long"),
    _q("label"), _q("app"), _q("appArgs"), _q("callerId"), _q("timeout", "int", default=30),
    _VARIABLES, _q("otherChannelId"), _q("originator"), _q("formats"),
)

ROUTES: tuple[Route, ...] = (
    # asterisk
    Route("asterisk", "GET", "/asterisk/info", "getInfo", "Gets Asterisk system information.",
          "AsteriskInfo", lambda e, a: e.asterisk_info(),
          (_q("only", allow_multiple=True),)),
    Route("asterisk", "GET", "/asterisk/modules/{moduleName}", "getModule",
          "Get Asterisk module information.", "Module",
          lambda e, a: module_json(a["moduleName"], e.config.unloaded_modules),
          (_p("moduleName"),),
          error_responses=((404, "Module could not be found in running modules."),)),
    # applications
    Route("applications", "GET", "/applications", "list", "List all applications.",
          "List[Application]", lambda e, a: e.list_applications()),
    Route("applications", "GET", "/applications/{applicationName}", "get",
          "Get details of an application.", "Application",
          lambda e, a: e.application(a["applicationName"]), (_p("applicationName"),),
          error_responses=((404, "Application does not exist."),)),
    Route("applications", "POST", "/applications/{applicationName}/subscription", "subscribe",
          "Subscribe an application to a event source.", "Application",
          lambda e, a: e.subscribe(a["applicationName"], a.get("eventSource") or []),
          (_p("applicationName"), _q("eventSource", required=True, allow_multiple=True)),
          error_responses=((400, "Missing parameter."), (404, "Application does not exist."),
                           (422, "Event source does not exist."))),
    Route("applications", "DELETE", "/applications/{applicationName}/subscription",
          "unsubscribe", "Unsubscribe an application from an event source.", "Application",
          lambda e, a: e.unsubscribe(a["applicationName"], a.get("eventSource") or []),
          (_p("applicationName"), _q("eventSource", required=True, allow_multiple=True)),
          error_responses=((400, "Missing parameter; event source scheme not recognized."),
                           (404, "Application does not exist."),
                           (409, "Application not subscribed to event source."),
                           (422, "Event source does not exist."))),
    # endpoints
    Route("endpoints", "GET", "/endpoints", "list", "List all endpoints.", "List[Endpoint]",
          lambda e, a: e.list_endpoints()),
    Route("endpoints", "GET", "/endpoints/{tech}/{resource}", "get",
          "Details for an endpoint.", "Endpoint",
          lambda e, a: e.endpoint(a["tech"], a["resource"]), (_p("tech"), _p("resource")),
          error_responses=((404, "Endpoints not found"),)),
    # channels
    Route("channels", "GET", "/channels", "list", "List all active channels in Asterisk.",
          "List[Channel]", lambda e, a: e.list_channels()),
    Route("channels", "POST", "/channels", "originate",
          "Create a new channel (originate).", "Channel", _originate,
          (*_ORIGINATE_PARAMS, _q("channelId")),
          error_responses=((400, "Invalid parameters for originating a channel."),
                           (409, "Channel with given unique ID already exists."))),
    Route("channels", "POST", "/channels/create", "create",
          "Create channel.", "Channel", _create,
          (_q("endpoint", required=True), _q("app", required=True), _q("appArgs"),
           _q("channelId"), _q("otherChannelId"), _q("originator"), _q("formats"),
           _VARIABLES),
          error_responses=((409, "Channel with given unique ID already exists."),)),
    Route("channels", "GET", "/channels/{channelId}", "get", "Channel details.", "Channel",
          lambda e, a: e.channel(a["channelId"]).json(), (_CH,),
          error_responses=((404, "Channel not found"),)),
    Route("channels", "POST", "/channels/{channelId}", "originateWithId",
          "Create a new channel (originate with id).", "Channel",
          lambda e, a: _originate(e, a), (_CH, *_ORIGINATE_PARAMS)),
    Route("channels", "DELETE", "/channels/{channelId}", "hangup", "Delete (i.e. hangup) a channel.",
          "void", lambda e, a: e.hangup(a["channelId"], _hangup_cause(a)),
          (_CH, _q("reason_code"), _q("reason")),
          error_responses=((400, "Invalid reason for hangup provided"),
                           (404, "Channel not found"))),
    Route("channels", "POST", "/channels/{channelId}/answer", "answer", "Answer a channel.",
          "void", lambda e, a: e.answer(a["channelId"]), (_CH,)),
    Route("channels", "POST", "/channels/{channelId}/ring", "ring",
          "Indicate ringing to a channel.", "void", lambda e, a: e.ring(a["channelId"], True),
          (_CH,)),
    Route("channels", "DELETE", "/channels/{channelId}/ring", "ringStop",
          "Stop ringing indication on a channel.", "void",
          lambda e, a: e.ring(a["channelId"], False), (_CH,)),
    Route("channels", "POST", "/channels/{channelId}/dtmf", "sendDTMF",
          "Send provided DTMF to a given channel.", "void",
          lambda e, a: e.send_dtmf(a["channelId"], a.get("dtmf")),
          (_CH, _q("dtmf"), _q("before", "int"), _q("between", "int"), _q("duration", "int"),
           _q("after", "int"))),
    Route("channels", "POST", "/channels/{channelId}/moh", "startMoh",
          "Play music on hold to a channel.", "void", lambda e, a: e.moh(a["channelId"], True),
          (_CH, _q("mohClass"))),
    Route("channels", "DELETE", "/channels/{channelId}/moh", "stopMoh",
          "Stop playing music on hold to a channel.", "void",
          lambda e, a: e.moh(a["channelId"], False), (_CH,)),
    Route("channels", "POST", "/channels/{channelId}/play", "play",
          "Start playback of media.", "Playback", _play,
          (_CH, _q("media", required=True, allow_multiple=True), _q("lang"),
           _q("offsetms", "int"), _q("skipms", "int"), _q("playbackId")), status=201),
    Route("channels", "POST", "/channels/{channelId}/play/{playbackId}", "playWithId",
          "Start playback of media and specify the playbackId.", "Playback", _play,
          (_CH, _p("playbackId"), _q("media", required=True, allow_multiple=True), _q("lang"),
           _q("offsetms", "int"), _q("skipms", "int")), status=201),
    Route("channels", "GET", "/channels/{channelId}/variable", "getChannelVar",
          "Get the value of a channel variable or function.", "Variable",
          lambda e, a: e.get_variable(a["channelId"], a.get("variable")),
          (_CH, _q("variable", required=True))),
    Route("channels", "POST", "/channels/{channelId}/variable", "setChannelVar",
          "Set the value of a channel variable or function.", "void",
          lambda e, a: e.set_variable(a["channelId"], a.get("variable"), a.get("value") or ""),
          (_CH, _q("variable", required=True), _q("value"))),
    Route("channels", "POST", "/channels/{channelId}/snoop", "snoopChannel",
          "Start snooping.", "Channel", _snoop,
          (_CH, _q("spy"), _q("whisper"), _q("app", required=True), _q("appArgs"),
           _q("snoopId"))),
    Route("channels", "POST", "/channels/{channelId}/snoop/{snoopId}", "snoopChannelWithId",
          "Start snooping, with a given snoop id.", "Channel", _snoop,
          (_CH, _p("snoopId"), _q("spy"), _q("whisper"), _q("app", required=True),
           _q("appArgs"))),
    Route("channels", "POST", "/channels/{channelId}/dial", "dial",
          "Dial a created channel.", "void",
          lambda e, a: e.dial(a["channelId"], a.get("caller"), a.get("timeout") or 0),
          (_CH, _q("caller"), _q("timeout", "int"))),
    # bridges
    Route("bridges", "GET", "/bridges", "list", "List all active bridges in Asterisk.",
          "List[Bridge]", lambda e, a: e.list_bridges()),
    Route("bridges", "POST", "/bridges", "create", "Create a new bridge.", "Bridge",
          lambda e, a: e.create_bridge(a.get("type") or "mixing", a.get("bridgeId"),
                                       a.get("name") or ""),
          (_q("type"), _q("bridgeId"), _q("name"))),
    Route("bridges", "POST", "/bridges/{bridgeId}", "createWithId",
          "Create a new bridge or update an existing one.", "Bridge",
          lambda e, a: e.create_bridge(a.get("type") or "mixing", a["bridgeId"],
                                       a.get("name") or ""),
          (_BR, _q("type"), _q("name"))),
    Route("bridges", "GET", "/bridges/{bridgeId}", "get", "Get bridge details.", "Bridge",
          lambda e, a: e.get_bridge(a["bridgeId"]), (_BR,)),
    Route("bridges", "DELETE", "/bridges/{bridgeId}", "destroy", "Shut down a bridge.", "void",
          lambda e, a: e.destroy_bridge(a["bridgeId"]), (_BR,)),
    Route("bridges", "POST", "/bridges/{bridgeId}/addChannel", "addChannel",
          "Add a channel to a bridge.", "void",
          lambda e, a: e.add_to_bridge(a["bridgeId"], a.get("channel") or []),
          (_BR, _q("channel", required=True, allow_multiple=True), _q("role"),
           _q("absorbDTMF", "boolean"), _q("mute", "boolean"),
           _q("inhibitConnectedLineUpdates", "boolean"))),
    Route("bridges", "POST", "/bridges/{bridgeId}/removeChannel", "removeChannel",
          "Remove a channel from a bridge.", "void",
          lambda e, a: e.remove_from_bridge(a["bridgeId"], a.get("channel") or []),
          (_BR, _q("channel", required=True, allow_multiple=True))),
    Route("bridges", "POST", "/bridges/{bridgeId}/record", "record",
          "Start a recording.", "LiveRecording", _record,
          (_BR, _q("name", required=True), _q("format", required=True),
           _q("maxDurationSeconds", "int"), _q("maxSilenceSeconds", "int"), _q("ifExists"),
           _q("beep", "boolean"), _q("terminateOn")), status=201),
    # playbacks
    Route("playbacks", "GET", "/playbacks/{playbackId}", "get", "Get a playback's details.",
          "Playback", lambda e, a: e.get_playback(a["playbackId"]), (_p("playbackId"),)),
    Route("playbacks", "DELETE", "/playbacks/{playbackId}", "stop", "Stop a playback.",
          "void", lambda e, a: e.stop_playback(a["playbackId"]), (_p("playbackId"),)),
    # sounds
    Route("sounds", "GET", "/sounds", "list", "List all sounds.", "List[Sound]",
          lambda e, a: e.list_sounds(a.get("lang"), a.get("format")),
          (_q("lang"), _q("format"))),
    Route("sounds", "GET", "/sounds/{soundId}", "get", "Get a sound's details.", "Sound",
          lambda e, a: e.get_sound(a["soundId"]), (_p("soundId"),)),
    # recordings
    Route("recordings", "GET", "/recordings/stored", "listStored",
          "List recordings that are complete.", "List[StoredRecording]",
          lambda e, a: e.store.list()),
    Route("recordings", "GET", "/recordings/stored/{recordingName}", "getStored",
          "Get a stored recording's details.", "StoredRecording",
          lambda e, a: e.stored_recording(a["recordingName"]), (_p("recordingName"),)),
    Route("recordings", "DELETE", "/recordings/stored/{recordingName}", "deleteStored",
          "Delete a stored recording.", "void",
          lambda e, a: e.delete_stored(a["recordingName"]), (_p("recordingName"),)),
    Route("recordings", "GET", "/recordings/stored/{recordingName}/file", "getStoredFile",
          "Get the file associated with the stored recording.", "binary", _stored_file,
          (_p("recordingName"),)),
    Route("recordings", "GET", "/recordings/live/{recordingName}", "getLive",
          "List live recordings.", "LiveRecording",
          lambda e, a: e.live_recording(a["recordingName"]).json(), (_p("recordingName"),)),
    Route("recordings", "DELETE", "/recordings/live/{recordingName}", "cancel",
          "Stop a live recording and discard it.", "void",
          lambda e, a: e.cancel_recording(a["recordingName"]), (_p("recordingName"),)),
    Route("recordings", "POST", "/recordings/live/{recordingName}/stop", "stop",
          "Stop a live recording and store it.", "void",
          lambda e, a: e.stop_recording(a["recordingName"]), (_p("recordingName"),)),
    # events (the WebSocket; served by events_ws.py)
    Route("events", "GET", "/events", "eventWebsocket", "WebSocket connection for events.",
          "Message", None,
          (_q("app", required=True, allow_multiple=True), _q("subscribeAll", "boolean")),
          upgrade="websocket"),
)

RESOURCE_DESCRIPTIONS: dict[str, str] = {
    "asterisk": "Asterisk resources",
    "endpoints": "Endpoint resources",
    "channels": "Channel resources",
    "bridges": "Bridge resources",
    "recordings": "Recording resources",
    "sounds": "Sound resources",
    "playbacks": "Playback control resources",
    "events": "WebSocket resource",
    "applications": "Stasis application resources",
}
