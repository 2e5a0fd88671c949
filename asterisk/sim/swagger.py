"""Swagger 1.1 documents generated from the route table (the one that also routes).

aioari (via aioswagger11) reads `/ari/api-docs/resources.json`, then each resource's
document, validates basePath/resourcePath/apis/models, and builds one operation per
`nickname`. Event models list their object-typed fields so `on_channel_event` &co. work.
"""

from __future__ import annotations

from typing import Any

from asterisk.sim.routes import RESOURCE_DESCRIPTIONS, ROUTES, Route

API_VERSION = "2.0.0"

_OBJECT_MODELS: dict[str, dict[str, str]] = {
    "CallerID": {"name": "string", "number": "string"},
    "DialplanCEP": {"context": "string", "exten": "string", "priority": "long",
                    "app_name": "string", "app_data": "string"},
    "Channel": {"id": "string", "name": "string", "state": "string", "protocol_id": "string",
                "caller": "CallerID", "connected": "CallerID", "accountcode": "string",
                "dialplan": "DialplanCEP", "creationtime": "Date", "language": "string",
                "channelvars": "object"},
    "Bridge": {"id": "string", "technology": "string", "bridge_type": "string",
               "bridge_class": "string", "creator": "string", "name": "string",
               "channels": "List[string]", "creationtime": "Date", "video_mode": "string"},
    "Playback": {"id": "string", "media_uri": "string", "next_media_uri": "string",
                 "target_uri": "string", "language": "string", "state": "string"},
    "LiveRecording": {"name": "string", "format": "string", "target_uri": "string",
                      "state": "string", "duration": "int", "cause": "string"},
    "StoredRecording": {"name": "string", "format": "string"},
    "Sound": {"id": "string", "text": "string", "formats": "List[FormatLangPair]"},
    "FormatLangPair": {"language": "string", "format": "string"},
    "Module": {"name": "string", "description": "string", "use_count": "int",
               "status": "string", "support_level": "string"},
    "Endpoint": {"technology": "string", "resource": "string", "state": "string",
                 "channel_ids": "List[string]"},
    "Application": {"name": "string", "channel_ids": "List[string]",
                    "bridge_ids": "List[string]", "endpoint_ids": "List[string]",
                    "device_names": "List[string]", "events_allowed": "List[object]",
                    "events_disallowed": "List[object]"},
    "AsteriskInfo": {"build": "object", "system": "object", "config": "object",
                     "status": "object"},
    "Variable": {"value": "string"},
}

_EVENT_BASE = {"type": "string", "asterisk_id": "string", "application": "string",
               "timestamp": "Date"}
_EVENT_FIELDS: dict[str, dict[str, str]] = {
    "ApplicationReplaced": {},
    "StasisStart": {"args": "List[string]", "channel": "Channel",
                    "replace_channel": "Channel"},
    "StasisEnd": {"channel": "Channel"},
    "ChannelCreated": {"channel": "Channel"},
    "ChannelDestroyed": {"cause": "int", "cause_txt": "string", "tech_cause": "int",
                         "channel": "Channel"},
    "ChannelStateChange": {"channel": "Channel"},
    "ChannelHangupRequest": {"cause": "int", "tech_cause": "int", "soft": "boolean",
                             "channel": "Channel"},
    "ChannelDtmfReceived": {"digit": "string", "duration_ms": "int", "channel": "Channel"},
    "ChannelVarset": {"variable": "string", "value": "string", "channel": "Channel"},
    "ChannelCallerId": {"caller_presentation": "int", "caller_presentation_txt": "string",
                        "channel": "Channel"},
    "ChannelConnectedLine": {"channel": "Channel"},
    "ChannelDialplan": {"dialplan_app": "string", "dialplan_app_data": "string",
                        "channel": "Channel"},
    "Dial": {"caller": "Channel", "peer": "Channel", "forward": "string",
             "forwarded": "Channel", "dialstring": "string", "dialstatus": "string"},
    "ChannelEnteredBridge": {"bridge": "Bridge", "channel": "Channel"},
    "ChannelLeftBridge": {"bridge": "Bridge", "channel": "Channel"},
    "BridgeCreated": {"bridge": "Bridge"},
    "BridgeDestroyed": {"bridge": "Bridge"},
    "PlaybackStarted": {"playback": "Playback"},
    "PlaybackContinuing": {"playback": "Playback"},
    "PlaybackFinished": {"playback": "Playback"},
    "RecordingStarted": {"recording": "LiveRecording"},
    "RecordingFinished": {"recording": "LiveRecording"},
    "RecordingFailed": {"recording": "LiveRecording"},
}


def _model(model_id: str, props: dict[str, str], extra: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": model_id,
        "properties": {name: {"type": kind, "required": False} for name, kind in props.items()},
    }
    body.update(extra or {})
    return body


def _models_for(resource: str) -> dict[str, dict[str, Any]]:
    models = {name: _model(name, props) for name, props in _OBJECT_MODELS.items()}
    if resource == "events":
        models["Message"] = _model("Message", {"type": "string", "asterisk_id": "string"},
                                   {"discriminator": "type"})
        models["Event"] = _model("Event", _EVENT_BASE, {"extends": "Message"})
        for name, props in _EVENT_FIELDS.items():
            models[name] = _model(name, {**_EVENT_BASE, **props}, {"extends": "Event"})
    return models


def _parameter(route: Route, index: int) -> dict[str, Any]:
    param = route.params[index]
    body: dict[str, Any] = {
        "name": param.name,
        "description": param.description or param.name,
        "paramType": param.param_type,
        "required": param.required,
        "allowMultiple": param.allow_multiple,
        "dataType": param.data_type,
    }
    if param.default is not None:
        body["defaultValue"] = param.default
    return body


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "httpMethod": route.method,
        "summary": route.summary,
        "nickname": route.nickname,
        "responseClass": route.response_class,
        "parameters": [_parameter(route, i) for i in range(len(route.params))],
        "errorResponses": [{"code": code, "reason": reason}
                           for code, reason in route.error_responses],
    }
    if route.upgrade:
        operation["upgrade"] = route.upgrade
        operation["websocketProtocol"] = "ari"
    return operation


def resource_names() -> list[str]:
    seen: dict[str, None] = {}
    for route in ROUTES:
        seen.setdefault(route.resource, None)
    return list(seen)


def resources_listing(base_url: str) -> dict[str, Any]:
    return {
        "_copyright": "EVSCallPro ARI simulator; generated from its route table",
        "apiVersion": API_VERSION,
        "swaggerVersion": "1.1",
        "basePath": base_url,
        "apis": [
            {"path": f"/api-docs/{name}.{{format}}", "description": RESOURCE_DESCRIPTIONS[name]}
            for name in resource_names()
        ],
    }


def resource_document(name: str, base_url: str) -> dict[str, Any] | None:
    routes = [route for route in ROUTES if route.resource == name]
    if not routes:
        return None
    apis: dict[str, dict[str, Any]] = {}
    for route in routes:
        api = apis.setdefault(route.path, {"path": route.path, "description": route.summary,
                                           "operations": []})
        api["operations"].append(_operation(route))
    return {
        "_copyright": "EVSCallPro ARI simulator; generated from its route table",
        "apiVersion": API_VERSION,
        "swaggerVersion": "1.1",
        "basePath": base_url,
        "resourcePath": f"/api-docs/{name}.{{format}}",
        "requiresAuth": True,
        "apis": list(apis.values()),
        "models": _models_for(name),
    }
