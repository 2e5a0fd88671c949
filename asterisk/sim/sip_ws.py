"""SIP over WebSocket (RFC 7118, subprotocol "sip") for the endpoints configured as WebRTC.

What a browser softphone (JsSIP) meets on a real Asterisk 22, per traces W01-W05
(tests/fixtures/ari-traces/webrtc, README "WebRTC softphone"):

- REGISTER -> 401 (Digest realm="asterisk", MD5, qop="auth") -> REGISTER with
  Authorization -> 200 `Expires: 300`; the contact is stored as
  `sip:<user>@<ws source ip>:<port>;transport=ws;x-ast-orig-host=<host>:0`; a qualify
  OPTIONS follows at once and every 30 s. ARI (endpoint subscriptions): ContactStatusChange
  NonQualified, EndpointStateChange online, PeerStatusChange Reachable, then
  ContactStatusChange Reachable once the OPTIONS is answered.
- `Expires: 0` or the WebSocket closing: EndpointStateChange offline, PeerStatusChange
  Unreachable, ContactStatusChange Removed. A call up on a closed socket stays Up and no
  SIP is sent for it any more (W05): the core must react to the endpoint going offline.
- An originate to the endpoint: INVITE with an SDP offer (made by aiortc, `MediaSession`);
  180 -> Ringing; 200 -> ACK, Up, StasisStart; 486 -> BUSY 17; 603 -> NOANSWER 21; 480
  -> NOANSWER 19; the originate timeout -> CANCEL (200, 487, ACK), Destroyed 19/480;
  DELETE -> BYE with `Reason: Q.850;cause=16`; a BYE from the browser -> 200 and the
  channel hangs up with the Q.850 cause of its Reason header, or none (cause 0).

The engine sees one `WebrtcLeg` per channel (a `FarEnd` driven by SIP, not by a script).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from asterisk.sim.far_end import FarEnd
from asterisk.sim.model import SIP_TO_CAUSE, Channel
from asterisk.sim.sip_msg import (
    SipMessage,
    SipParseError,
    digest_params,
    digest_response,
    header_param,
    new_nonce,
    new_token,
    parse,
    q850_cause,
    response_to,
    tag_of,
    uri_in,
    uri_user,
)

if TYPE_CHECKING:
    from asterisk.sim.engine import Engine
    from asterisk.sim.webrtc_media import MediaSession

log = logging.getLogger(__name__)

REALM = "asterisk"
SERVER = "EVS-PBX"  # the traces' user_agent (asterisk/pjsip.conf sets the same)
PBX_HOST = "vm"  # Asterisk's From/Contact host in the traces (its hostname)
DEFAULT_EXPIRES = 300
QUALIFY_S = 30.0  # qualify_frequency (wall seconds)
_RESPONSE_WAIT_S = 5.0
_KEPT_CALLS = 50
_NONCES_KEPT = 256


@dataclass(slots=True, eq=False)
class Contact:
    endpoint: str
    uri: str  # as Asterisk stores it (with x-ast-orig-host)
    target: str  # the Request-URI of Asterisk's requests
    connection: SipConnection
    expires_at: float
    timer: asyncio.TimerHandle | None = None
    qualify: asyncio.TimerHandle | None = None


@dataclass(slots=True, eq=False)
class SipConnection:
    ws: web.WebSocketResponse
    host: str
    port: int
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    waiting: dict[tuple[str, str], asyncio.Queue[SipMessage]] = field(default_factory=dict)
    contact: Contact | None = None
    open: bool = True

    def send(self, message: SipMessage) -> bool:
        if not self.open or self.ws.closed:
            return False
        self.outbox.put_nowait(message.encode())
        return True

    def expect(self, branch: str, method: str) -> asyncio.Queue[SipMessage]:
        queue: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.waiting[(branch, method)] = queue
        return queue

    def via(self, branch: str) -> str:
        return f"SIP/2.0/WSS 127.0.0.1:8089;rport;branch={branch};alias"


def _branch() -> str:
    return f"z9hG4bKPj{uuid.uuid4()}"


class WebrtcLeg(FarEnd):
    """A PJSIP channel toward a registered browser: the far end speaks SIP (`SipCall`)."""

    signalled = True

    def __init__(self, engine: Engine, channel: Channel, dialstring: str, via_dial: bool,
                 endpoint: str, hub: WebrtcEndpoints, name: str) -> None:
        super().__init__(engine, channel, None, [], dialstring, via_dial, endpoint)
        self.call = SipCall(hub, self, name)

    async def _run(self) -> None:
        try:
            await self.call.run()
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug must not kill the loop
            log.exception("SIP call of %s failed", self.channel.id)

    def stop(self) -> None:
        if not self.done:
            self.call.end_from_asterisk()
        super().stop()


class SipCall:
    """Asterisk's INVITE dialog toward the browser (Asterisk is the UAC)."""

    def __init__(self, hub: WebrtcEndpoints, leg: WebrtcLeg, endpoint: str) -> None:
        self.hub = hub
        self.leg = leg
        self.endpoint = endpoint
        self.call_id = str(uuid.uuid4())
        self.from_tag = str(uuid.uuid4())
        self.cseq = random.randint(1000, 40000)
        self.to_tag = ""
        self.branch = _branch()
        self.state = "calling"  # calling | ringing | up | ended
        self.end_reason = ""
        self.finished = False
        self.invite_sent = False
        self.connection: SipConnection | None = None
        self.target = ""
        self.media: MediaSession | None = None
        self.responses: asyncio.Queue[SipMessage] | None = None
        self.started_at = time.time()

    # -- what the engine starts ---------------------------------------------------------
    async def run(self) -> None:
        from asterisk.sim.webrtc_media import MediaSession  # aiortc loads on first call

        contact = self.hub.contacts.get(self.endpoint)
        if contact is None:  # unregistered between the originate and now
            self._finish("no contact")
            self.hub.engine._far_hangup(self.leg, 19, 480)
            return
        self.connection = contact.connection
        self.target = contact.target
        self.hub.calls[self.call_id] = self
        self.media = MediaSession()
        offer = await self.media.offer()
        if self.finished:
            return
        self.responses = self.connection.expect(self.branch, "INVITE")
        self.invite_sent = self.connection.send(self._invite(offer))
        engine = self.hub.engine
        while True:
            response = await self.responses.get()
            status = response.status
            if status < 180:
                continue
            if status < 200:
                if self.state == "calling":
                    self.state = "ringing"
                    if status == 183:
                        engine._far_progress(self.leg)
                    else:
                        engine._far_ringing(self.leg)
                continue
            if status < 300:
                await self._answered(response)
                return
            self._finish(f"{status} {response.start.split(' ', 2)[-1]}")
            self._send_ack(response)
            self._failed(status)
            return

    async def _answered(self, response: SipMessage) -> None:
        self.to_tag = tag_of(response.header("To") or "")
        self.state = "up"
        self._send_ack(response)
        self.hub.engine._far_answer(self.leg)
        if self.media is not None and response.body:
            try:
                await self.media.accept_answer(response.body)
            except Exception as exc:  # a bad answer SDP: Asterisk would send BYE 488-ish
                log.warning("answer SDP of %s refused: %s", self.leg.channel.id, exc)

    def _failed(self, status: int) -> None:
        engine = self.hub.engine
        if status == 486 or status == 600:  # W04 A
            engine._far_fail(self.leg, "BUSY", 17, status)
        elif status == 503:
            engine._far_fail(self.leg, "CONGESTION", 34, status)
        else:  # 603 -> 21, 480 -> 19 (W04 B, C); others by Asterisk's table
            engine._far_hangup(self.leg, SIP_TO_CAUSE.get(status, 16 if status < 400 else 31),
                               status)

    # -- the browser ends the call ------------------------------------------------------
    def on_bye(self, request: SipMessage) -> None:
        if self.finished:
            return
        self._finish("BYE from the browser")
        cause = q850_cause(request.header("Reason"))  # W02: no Reason -> no cause, then 0
        self.hub.engine._far_hangup(self.leg, cause, None)

    # -- Asterisk ends the call (DELETE, originate timeout, restart) ---------------------
    def end_from_asterisk(self) -> None:
        if self.finished:
            return
        was = self.state
        self._finish("ended by Asterisk")
        connection = self.connection
        if connection is None or not self.invite_sent or not connection.open:
            return  # W05: no transport, no SIP
        if was == "up":
            self.hub.spawn(self._bye(connection))
        else:
            self.hub.spawn(self._cancel(connection))

    async def _bye(self, connection: SipConnection) -> None:
        branch = _branch()
        queue = connection.expect(branch, "BYE")
        self.cseq += 1
        connection.send(SipMessage(f"BYE {self.target} SIP/2.0", [
            ("Via", connection.via(branch)),
            *self._dialog_headers(),
            ("CSeq", f"{self.cseq} BYE"),
            ("Reason", "Q.850;cause=16"),
            ("Max-Forwards", "70"),
            ("User-Agent", SERVER),
        ]))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.get(), _RESPONSE_WAIT_S)
        connection.waiting.pop((branch, "BYE"), None)

    async def _cancel(self, connection: SipConnection) -> None:
        """W04 D: CANCEL -> 200 (CANCEL), 487 (INVITE) -> ACK."""
        queue = connection.expect(self.branch, "CANCEL")
        connection.send(SipMessage(f"CANCEL {self.target} SIP/2.0", [
            ("Via", connection.via(self.branch)),
            ("From", self._from()),
            ("To", f"<{self._to_uri()}>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} CANCEL"),
            ("Max-Forwards", "70"),
            ("User-Agent", SERVER),
        ]))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.get(), _RESPONSE_WAIT_S)
        invite_responses = self.responses
        if invite_responses is not None:
            with contextlib.suppress(TimeoutError):
                while True:
                    response = await asyncio.wait_for(invite_responses.get(), _RESPONSE_WAIT_S)
                    if response.status >= 300:
                        self._send_ack(response)
                        break
                    if 200 <= response.status < 300:  # answered meanwhile: ACK then BYE
                        self.to_tag = tag_of(response.header("To") or "")
                        self._send_ack(response)
                        await self._bye(connection)
                        break
        connection.waiting.pop((self.branch, "CANCEL"), None)

    # -- messages ------------------------------------------------------------------------
    def _from(self) -> str:
        caller = self.leg.channel.caller
        number = caller.number or "asterisk"
        name = f'"{caller.name}" ' if caller.name else ""
        return f"{name}<sip:{number}@{PBX_HOST}>;tag={self.from_tag}"

    def _to_uri(self) -> str:
        user = uri_user(self.target)
        host = self.connection.host if self.connection else "127.0.0.1"
        return f"sip:{user}@{host}"

    def _dialog_headers(self) -> list[tuple[str, str]]:
        to = f"<{self._to_uri()}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        return [("From", self._from()), ("To", to), ("Call-ID", self.call_id)]

    def _invite(self, sdp: str) -> SipMessage:
        assert self.connection is not None
        return SipMessage(f"INVITE {self.target} SIP/2.0", [
            ("Via", self.connection.via(self.branch)),
            ("From", self._from()),
            ("To", f"<{self._to_uri()}>"),
            ("Contact", f"<sip:asterisk@{PBX_HOST}:5060;transport=ws>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} INVITE"),
            ("Allow", "OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, "
                      "UPDATE, PRACK, MESSAGE, INFO, REFER"),
            ("Supported", "100rel, timer, replaces, norefersub, histinfo"),
            ("Session-Expires", "1800"),
            ("Min-SE", "90"),
            ("Max-Forwards", "70"),
            ("User-Agent", SERVER),
            ("Content-Type", "application/sdp"),
        ], sdp)

    def _send_ack(self, response: SipMessage) -> None:
        """2xx: a new transaction (new branch); non-2xx: the INVITE's branch (RFC 3261 17.1.1.3)."""
        connection = self.connection
        if connection is None:
            return
        branch = _branch() if response.status < 300 else self.branch
        connection.send(SipMessage(f"ACK {self.target} SIP/2.0", [
            ("Via", connection.via(branch)),
            ("From", self._from()),
            ("To", response.header("To") or f"<{self._to_uri()}>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{response.cseq} ACK"),
            ("Max-Forwards", "70"),
            ("User-Agent", SERVER),
        ]))

    def _finish(self, reason: str) -> None:
        self.finished = True
        self.state = "ended"
        self.end_reason = reason
        self.hub.call_ended(self)

    async def summary(self) -> dict[str, Any]:
        media = await self.media.counters() if self.media is not None else {}
        return {
            "channel_id": self.leg.channel.id,
            "endpoint": self.endpoint,
            "call_id": self.call_id,
            "sip_state": self.state,
            "end_reason": self.end_reason,
            "transport_open": bool(self.connection and self.connection.open),
            "media": media,
        }


class WebrtcEndpoints:
    """The registrar and the SIP-over-WebSocket server; `engine.sip` points here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self.contacts: dict[str, Contact] = {}
        self.connections: set[SipConnection] = set()
        self.calls: dict[str, SipCall] = {}
        self.ended: deque[SipCall] = deque(maxlen=_KEPT_CALLS)
        self._nonces: deque[str] = deque(maxlen=_NONCES_KEPT)
        self._opaque = uuid.uuid4().hex[:16]
        self._tasks: set[asyncio.Task[Any]] = set()
        self.registrations = 0
        engine.sip = self

    # -- what the engine asks -----------------------------------------------------------
    def is_webrtc(self, name: str) -> bool:
        endpoint = self.config.pjsip_endpoints.get(name)
        return endpoint is not None and endpoint.webrtc

    def is_registered(self, name: str) -> bool:
        return name in self.contacts

    def new_leg(self, channel: Channel, dialstring: str, via_dial: bool, endpoint: str,
                name: str) -> WebrtcLeg:
        return WebrtcLeg(self.engine, channel, dialstring, via_dial, endpoint, self, name)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def call_ended(self, call: SipCall) -> None:
        if self.calls.pop(call.call_id, None) is not None:
            self.ended.append(call)
        if call.media is not None:
            self.spawn(call.media.close())

    # -- the WebSocket -------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("sip",), heartbeat=None)
        await ws.prepare(request)
        if ws.ws_protocol != "sip":  # RFC 7118 section 4: the subprotocol is mandatory
            await ws.close(code=1002, message=b"subprotocol 'sip' required")
            return ws
        peer = request.transport.get_extra_info("peername") if request.transport else None
        host, port = (peer[0], int(peer[1])) if peer else ("127.0.0.1", 0)
        connection = SipConnection(ws, host, port)
        self.connections.add(connection)
        writer = asyncio.get_running_loop().create_task(self._write(connection))
        try:
            async for frame in ws:
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data = frame.data if isinstance(frame.data, str) else frame.data.decode()
                    self._receive(connection, data)
        finally:
            connection.open = False
            writer.cancel()
            self.connections.discard(connection)
            self._connection_closed(connection)
        return ws

    async def _write(self, connection: SipConnection) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                text = await connection.outbox.get()
                await connection.ws.send_str(text)

    def _receive(self, connection: SipConnection, data: str) -> None:
        if not data.strip():  # CRLF keep-alive
            return
        try:
            message = parse(data)
        except SipParseError as exc:
            log.info("unreadable SIP frame from %s:%s: %s", connection.host, connection.port, exc)
            return
        if not message.is_request:
            queue = connection.waiting.get((message.branch, message.method))
            if queue is not None:
                queue.put_nowait(message)
            return
        method = message.method
        if method == "REGISTER":
            self._register(connection, message)
        elif method == "OPTIONS":
            connection.send(response_to(message, 200, "OK", to_tag=new_token(), extra=[
                ("Allow", "OPTIONS, REGISTER, INVITE, ACK, BYE, CANCEL"),
                ("Accept", "application/sdp"), ("Server", SERVER)]))
        elif method == "BYE":
            call = self.calls.get(message.call_id)
            if call is None:
                connection.send(response_to(message, 481, "Call/Transaction Does Not Exist"))
                return
            connection.send(response_to(message, 200, "OK", extra=[("Server", SERVER)]))
            call.on_bye(message)
        elif method == "ACK":
            return
        elif method == "INVITE":  # a call placed from the softphone: not modelled
            connection.send(response_to(message, 403, "Forbidden", to_tag=new_token()))
        else:
            connection.send(response_to(message, 405, "Method Not Allowed",
                                        to_tag=new_token(), extra=[("Server", SERVER)]))

    # -- registration --------------------------------------------------------------------
    def _register(self, connection: SipConnection, request: SipMessage) -> None:
        received = f"{connection.host}:{connection.port}"
        aor = uri_user(uri_in(request.header("To") or ""))
        endpoint = self.config.pjsip_endpoints.get(aor)
        tag = request.branch
        if endpoint is None or not endpoint.webrtc:
            connection.send(response_to(request, 404, "Not Found", to_tag=tag,
                                        received=received, extra=[("Server", SERVER)]))
            return
        if not self._authorized(request, aor, endpoint.username or aor, endpoint.password):
            nonce = new_nonce(time.time())
            self._nonces.append(nonce)
            challenge = (f'Digest realm="{REALM}",nonce="{nonce}",opaque="{self._opaque}",'
                         'algorithm=MD5,qop="auth"')
            connection.send(response_to(request, 401, "Unauthorized", to_tag=tag,
                                        received=received,
                                        extra=[("WWW-Authenticate", challenge),
                                               ("Server", SERVER)]))
            return
        contact_header = request.header("Contact") or ""
        expires = header_param(contact_header, "expires") or request.header("Expires")
        try:
            seconds = int(expires) if expires is not None else DEFAULT_EXPIRES
        except ValueError:
            seconds = DEFAULT_EXPIRES
        seconds = min(max(seconds, 0), 3600)
        extra: list[tuple[str, str]] = [("Date", email.utils.formatdate(usegmt=True))]
        if seconds and contact_header:
            extra.append(("Contact", f"<{uri_in(contact_header)}>;expires={seconds - 1}"))
        extra += [("Expires", str(seconds or DEFAULT_EXPIRES)), ("Server", SERVER)]
        connection.send(response_to(request, 200, "OK", to_tag=tag, received=received,
                                    extra=extra))
        if seconds == 0:
            self._remove_contact(aor)
            return
        self._add_contact(connection, aor, uri_in(contact_header), seconds)

    def _authorized(self, request: SipMessage, aor: str, username: str, password: str) -> bool:
        params = digest_params(request.header("Authorization") or "")
        if not params or params.get("username") != username or params.get("realm") != REALM:
            return False
        if params.get("nonce") not in self._nonces:
            return False
        expected = digest_response(username, REALM, password, "REGISTER", params.get("uri", ""),
                                   params.get("nonce", ""), params.get("qop", ""),
                                   params.get("nc", ""), params.get("cnonce", ""))
        return params.get("response") == expected

    def _add_contact(self, connection: SipConnection, aor: str, uri: str, seconds: int) -> None:
        user = uri_user(uri) or aor
        host = uri.partition("@")[2].split(";")[0] or "invalid"
        target = f"sip:{user}@{connection.host}:{connection.port};transport=ws"
        stored = f"{target};x-ast-orig-host={host}:0"
        old = self.contacts.get(aor)
        loop = asyncio.get_running_loop()
        if old is not None and old.uri == stored:  # a refresh
            old.expires_at = time.monotonic() + seconds
            if old.timer is not None:
                old.timer.cancel()
            old.timer = loop.call_later(seconds, self._remove_contact, aor)
            return
        if old is not None:  # max_contacts=1, remove_existing=yes
            self._remove_contact(aor, keep_online=True)
        contact = Contact(aor, stored, target, connection, time.monotonic() + seconds)
        contact.timer = loop.call_later(seconds, self._remove_contact, aor)
        self.contacts[aor] = contact
        connection.contact = contact
        self.registrations += 1
        engine = self.engine
        engine._contact_event(aor, stored, "NonQualified", 0, state="offline" if old is None
                              else "online")
        if old is None:
            engine._endpoint_state_event(aor)
            engine._peer_event(aor, "Reachable")
        self._qualify(contact)

    def _qualify(self, contact: Contact) -> None:
        self.spawn(self._options(contact))
        contact.qualify = asyncio.get_running_loop().call_later(QUALIFY_S, self._qualify, contact)

    async def _options(self, contact: Contact) -> None:
        connection = contact.connection
        branch = _branch()
        queue = connection.expect(branch, "OPTIONS")
        sent = time.monotonic()
        ok = connection.send(SipMessage(f"OPTIONS {contact.target} SIP/2.0", [
            ("Via", connection.via(branch)),
            ("From", f"<sip:{contact.endpoint}@{PBX_HOST}>;tag={uuid.uuid4()}"),
            ("To", f"<sip:{uri_user(contact.target)}@{connection.host}>"),
            ("Contact", f"<sip:{contact.endpoint}@{PBX_HOST}:5060;transport=ws>"),
            ("Call-ID", str(uuid.uuid4())),
            ("CSeq", f"{random.randint(1000, 60000)} OPTIONS"),
            ("Max-Forwards", "70"),
            ("User-Agent", SERVER),
        ]))
        try:
            if not ok:
                return
            with contextlib.suppress(TimeoutError):
                response = await asyncio.wait_for(queue.get(), _RESPONSE_WAIT_S)
                if response.status == 200 and self.contacts.get(contact.endpoint) is contact:
                    roundtrip = int((time.monotonic() - sent) * 1e6)
                    self.engine._contact_event(contact.endpoint, contact.uri, "Reachable",
                                               roundtrip)
        finally:
            connection.waiting.pop((branch, "OPTIONS"), None)

    def _remove_contact(self, aor: str, keep_online: bool = False) -> None:
        contact = self.contacts.pop(aor, None)
        if contact is None:
            return
        for handle in (contact.timer, contact.qualify):
            if handle is not None:
                handle.cancel()
        if contact.connection.contact is contact:
            contact.connection.contact = None
        engine = self.engine
        if not keep_online:
            engine._endpoint_state_event(aor)
            engine._peer_event(aor, "Unreachable")
        engine._contact_event(aor, contact.uri, "Removed", 0)

    def _connection_closed(self, connection: SipConnection) -> None:
        """W05: the page is gone. The contact goes (offline events); calls stay Up."""
        for (branch, method), queue in list(connection.waiting.items()):
            del connection.waiting[(branch, method)]
            del queue
        contact = connection.contact
        if contact is not None and self.contacts.get(contact.endpoint) is contact:
            self._remove_contact(contact.endpoint)

    async def close_connections(self) -> None:
        """Asterisk going away: every socket closes, no SIP for the calls."""
        for connection in list(self.connections):
            connection.open = False
            with contextlib.suppress(Exception):
                await connection.ws.close(code=1001, message=b"server restart")

    async def aclose(self) -> None:
        await self.close_connections()
        for contact in list(self.contacts.values()):
            for handle in (contact.timer, contact.qualify):
                if handle is not None:
                    handle.cancel()
        self.contacts.clear()
        calls = [c for c in list(self.calls.values()) + list(self.ended) if c.media is not None]
        for call in calls:
            assert call.media is not None
            with contextlib.suppress(Exception):
                await call.media.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    # -- admin ---------------------------------------------------------------------------
    async def state(self) -> dict[str, Any]:
        endpoints = {}
        for name, endpoint in self.config.pjsip_endpoints.items():
            if not endpoint.webrtc:
                continue
            contact = self.contacts.get(name)
            endpoints[name] = {"state": "online" if contact else "offline",
                               "contact": contact.uri if contact else None}
        return {
            "endpoints": endpoints,
            "registrations": self.registrations,
            "calls": [await call.summary() for call in self.calls.values()],
            "ended_calls": [await call.summary() for call in self.ended],
        }


def add_webrtc_routes(app: web.Application, hub: WebrtcEndpoints) -> None:
    """`/ws` (SIP over WebSocket, as Asterisk's HTTP server) and `GET /_sim/webrtc`."""

    async def state(request: web.Request) -> web.Response:
        return web.json_response(await hub.state())

    async def audio(request: web.Request) -> web.Response:
        """`POST /_sim/webrtc/{channel_id}/audio?send=off|on`: stop or resume the tone."""
        send = request.query.get("send", "")
        if send not in ("on", "off"):
            return web.json_response({"message": "send must be on or off"}, status=400)
        call = next((c for c in hub.calls.values()
                     if c.leg.channel.id == request.match_info["channel_id"]), None)
        if call is None or call.media is None:
            return web.json_response({"message": "no live WebRTC call on that channel"},
                                     status=404)
        call.media.send_audio(send == "on")
        return web.Response(status=204)

    app.router.add_get("/ws", hub.handle)
    app.router.add_get("/_sim/webrtc", state)
    app.router.add_post("/_sim/webrtc/{channel_id}/audio", audio)
