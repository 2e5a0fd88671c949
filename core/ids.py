"""Typed identifiers: a ChannelId is never confused with a CallId at type-check time."""

from typing import NewType

CallId = NewType("CallId", str)
AgentId = NewType("AgentId", str)
SupervisorId = NewType("SupervisorId", str)
ChannelId = NewType("ChannelId", str)
BridgeId = NewType("BridgeId", str)
PlaybackId = NewType("PlaybackId", str)
RecordingName = NewType("RecordingName", str)
ContactId = NewType("ContactId", str)
