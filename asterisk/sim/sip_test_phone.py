"""A scripted browser softphone in Python, for tests without Chromium: it speaks to `/ws`
what JsSIP spoke to Asterisk in traces W01-W05 (REGISTER with digest, 200 to OPTIONS,
100 + 180 to an INVITE, then an answer with real WebRTC media from aiortc, or 486 / 603 /
480, BYE with or without Reason, un-REGISTER, or a socket that just closes).

    async with aiohttp.ClientSession() as http:
        phone = TestSoftphone(http, sim.base_url, "webrtc-1001", "webrtc-1001-secret")
        await phone.register()
        phone.on_invite = "answer"        # or "busy", "decline", "reject", "ring"
        call = await phone.next_call()    # the INVITE arrived (and was answered)
        await phone.hang_up(call, reason=None)
        await phone.close()               # the page closes: no SIP at all
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from asterisk.sim.sip_msg import (
    SipMessage,
    digest_params,
    digest_response,
    new_token,
    parse,
    response_to,
    tag_of,
    uri_in,
)

WAIT_S = 10.0


@dataclass(slots=True, eq=False)
class PhoneCall:
    invite: SipMessage
    to_tag: str
    state: str = "ringing"  # ringing | up | ended
    media: Any = None  # aiortc RTCPeerConnection once answered
    inbound_frames: int = 0
    ended_by: str = ""
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    cseq: int = 100

    @property
    def call_id(self) -> str:
        return self.invite.call_id


class TestSoftphone:
    __test__ = False  # not a pytest class

    def __init__(self, http: aiohttp.ClientSession, base_url: str, user: str, password: str,
                 host: str = "127.0.0.1") -> None:
        self.http = http
        self.url = base_url.replace("http://", "ws://") + "/ws"
        self.user = user
        self.password = password
        self.host = host
        self.on_invite = "answer"
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.received: list[SipMessage] = []
        self.sent: list[SipMessage] = []
        self.calls: asyncio.Queue[PhoneCall] = asyncio.Queue()
        self.by_id: dict[str, PhoneCall] = {}
        self._waiting: dict[tuple[str, str], asyncio.Queue[SipMessage]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._contact_user = new_token(8)
        self._contact_host = new_token(12) + ".invalid"
        self._reg_call_id = new_token(22)
        self._reg_cseq = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- socket ----------------------------------------------------------------------------
    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.url, protocols=("sip",))
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            message = parse(frame.data)
            self.received.append(message)
            if not message.is_request:
                queue = self._waiting.get((message.branch, message.method))
                if queue is not None:
                    queue.put_nowait(message)
                continue
            self._spawn(self._request(message))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, message: SipMessage) -> None:
        assert self.ws is not None
        self.sent.append(message)
        await self.ws.send_str(message.encode())

    def _expect(self, branch: str, method: str) -> asyncio.Queue[SipMessage]:
        queue: asyncio.Queue[SipMessage] = asyncio.Queue()
        self._waiting[(branch, method)] = queue
        return queue

    # -- registration ----------------------------------------------------------------------
    def _register_request(self, expires: int, auth: str | None) -> tuple[SipMessage, str]:
        self._reg_cseq += 1
        branch = f"z9hG4bK{new_token(7)}"
        contact = (f"<sip:{self._contact_user}@{self._contact_host};transport=ws>;+sip.ice;"
                   f'reg-id=1;+sip.instance="<urn:uuid:{uuid.uuid4()}>";expires={expires}')
        headers = [
            ("Via", f"SIP/2.0/WSS {self._contact_host};branch={branch}"),
            ("Max-Forwards", "69"),
            ("To", f"<sip:{self.user}@{self.host}>"),
            ("From", f"<sip:{self.user}@{self.host}>;tag=reg{self._reg_call_id[:6]}"),
            ("Call-ID", self._reg_call_id),
            ("CSeq", f"{self._reg_cseq} REGISTER"),
            ("Expires", str(expires)),
            ("Contact", contact),
            ("Supported", "path,gruu,outbound"),
            ("User-Agent", "EVSCallPro test softphone"),
        ]
        if auth:
            headers.insert(6, ("Authorization", auth))
        return SipMessage(f"REGISTER sip:{self.host} SIP/2.0", headers), branch

    async def register(self, expires: int = 300, password: str | None = None) -> int:
        """REGISTER, answer the 401 challenge once; returns the final status."""
        if self.ws is None:
            await self.connect()
        request, branch = self._register_request(expires, None)
        queue = self._expect(branch, "REGISTER")
        await self.send(request)
        response = await asyncio.wait_for(queue.get(), WAIT_S)
        if response.status != 401:
            return response.status
        params = digest_params(response.header("WWW-Authenticate") or "")
        uri = f"sip:{self.host}"
        cnonce, nc = new_token(12), "00000001"
        digest = digest_response(self.user, params["realm"], password or self.password,
                                 "REGISTER", uri, params["nonce"], "auth", nc, cnonce)
        auth = (f'Digest algorithm=MD5, username="{self.user}", realm="{params["realm"]}", '
                f'nonce="{params["nonce"]}", uri="{uri}", response="{digest}", '
                f'opaque="{params.get("opaque", "")}", qop=auth, cnonce="{cnonce}", nc={nc}')
        request, branch = self._register_request(expires, auth)
        queue = self._expect(branch, "REGISTER")
        await self.send(request)
        response = await asyncio.wait_for(queue.get(), WAIT_S)
        return response.status

    async def unregister(self) -> int:
        return await self.register(expires=0)

    async def close(self) -> None:
        """The page goes away: the socket closes, no SIP is sent (W05)."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader
        for call in self.by_id.values():
            await self._close_media(call)
        for task in list(self._tasks):
            task.cancel()

    # -- requests from the PBX -------------------------------------------------------------
    async def _request(self, request: SipMessage) -> None:
        method = request.method
        if method == "OPTIONS":
            await self.send(response_to(request, 200, "OK", to_tag=new_token()))
        elif method == "INVITE":
            await self._invite(request)
        elif method == "CANCEL":
            call = self.by_id.get(request.call_id)
            await self.send(response_to(request, 200, "OK"))
            if call is not None and call.state == "ringing":
                call.state, call.ended_by = "ended", "cancel"
                await self.send(response_to(call.invite, 487, "Request Terminated",
                                            to_tag=call.to_tag))
                call.ended.set()
        elif method == "BYE":
            call = self.by_id.get(request.call_id)
            await self.send(response_to(request, 200, "OK"))
            if call is not None:
                call.state, call.ended_by = "ended", "remote bye"
                call.ended.set()
                await self._close_media(call)
        elif method == "ACK":
            return

    async def _invite(self, invite: SipMessage) -> None:
        call = PhoneCall(invite, new_token(10))
        self.by_id[call.call_id] = call
        await self.send(response_to(invite, 100, "Trying"))
        contact = [("Contact", f"<sip:{self._contact_user}@{self._contact_host};transport=ws>")]
        await self.send(response_to(invite, 180, "Ringing", to_tag=call.to_tag, extra=contact))
        mode = self.on_invite
        if mode == "answer":
            answer = await self._answer_media(call, invite.body)
            call.state = "up"
            await self.send(response_to(invite, 200, "OK", to_tag=call.to_tag, extra=[
                *contact, ("Session-Expires", "1800;refresher=uas"),
                ("Content-Type", "application/sdp")], body=answer))
        elif mode in ("busy", "decline", "reject"):
            status, reason = {"busy": (486, "Busy Here"), "decline": (603, "Decline"),
                              "reject": (480, "Temporarily Unavailable")}[mode]
            call.state, call.ended_by = "ended", str(status)
            await self.send(response_to(invite, status, reason, to_tag=call.to_tag))
            call.ended.set()
        self.calls.put_nowait(call)

    async def _answer_media(self, call: PhoneCall, offer: str) -> str:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from asterisk.sim.webrtc_media import ToneTrack

        pc = RTCPeerConnection()
        call.media = pc

        @pc.on("track")
        def on_track(track: Any) -> None:
            async def read() -> None:
                with contextlib.suppress(Exception):
                    while True:
                        await track.recv()
                        call.inbound_frames += 1
            self._spawn(read())

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.sender.replaceTrack(ToneTrack())
                transceiver.direction = "sendrecv"
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def _close_media(self, call: PhoneCall) -> None:
        if call.media is not None:
            with contextlib.suppress(Exception):
                await call.media.close()

    # -- what a test does ------------------------------------------------------------------
    async def next_call(self, timeout: float = WAIT_S) -> PhoneCall:
        return await asyncio.wait_for(self.calls.get(), timeout)

    async def hang_up(self, call: PhoneCall, reason: str | None = None) -> SipMessage:
        """BYE from the browser (JsSIP's terminate()); `reason` e.g. 'Q.850;cause=16'."""
        invite = call.invite
        branch = f"z9hG4bK{new_token(7)}"
        call.cseq += 1
        headers = [
            ("Via", f"SIP/2.0/WSS {self._contact_host};branch={branch}"),
            ("Max-Forwards", "69"),
            ("To", invite.header("From") or ""),
            ("From", f"{invite.header('To')};tag={call.to_tag}"),
            ("Call-ID", call.call_id),
            ("CSeq", f"{call.cseq} BYE"),
        ]
        if reason:
            headers.append(("Reason", reason))
        queue = self._expect(branch, "BYE")
        await self.send(SipMessage(f"BYE {uri_in(invite.header('Contact') or '')} SIP/2.0",
                                   headers))
        response = await asyncio.wait_for(queue.get(), WAIT_S)
        call.state, call.ended_by = "ended", "local bye"
        call.ended.set()
        await self._close_media(call)
        return response

    def requests_received(self, method: str) -> list[SipMessage]:
        return [m for m in self.received if m.is_request and m.method == method]

    @staticmethod
    def dialog_tag(message: SipMessage) -> str:
        return tag_of(message.header("To") or "")
