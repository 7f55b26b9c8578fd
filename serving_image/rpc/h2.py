"""A lean HTTP/2 (h2c) transport for gRPC in the server's own asyncio event loop.

Why not ``grpc.aio``: its C core runs its own completion-queue thread and hands every call to the event loop
across threads, which measured at a third of uvicorn's HTTP/1.1 rate on the same loop (bench/serving.py).
Here the frames are parsed in ``data_received`` with ``struct``, header blocks are decoded with ``hpack`` (the
python-hyper HPACK codec, with its header-list size bound), and the answers of every stream that finished in
one loop turn go out in one write. No thread, no copy of the message beyond the one the protobuf parser makes.

It implements what a gRPC server needs of RFC 9113, and refuses the rest:
- the connection preface, SETTINGS (and their ACK), PING, GOAWAY, WINDOW_UPDATE, RST_STREAM, PRIORITY
  (ignored), CONTINUATION, padding;
- flow control both ways: the receive windows are replenished as messages are consumed, and DATA sent never
  exceeds the peer's connection and stream windows (what does not fit waits for its WINDOW_UPDATE);
- bounds that hold against hostile peers: concurrent streams (beyond them: REFUSED_STREAM), header-list size
  (also across CONTINUATION frames), message size, frame size, the bytes of unfinished request bodies held
  across all connections (a stream past it is answered UNAVAILABLE), and a budget for resets and empty frames
  (the "rapid reset" and "CONTINUATION/empty-frame flood" attacks end in GOAWAY ENHANCE_YOUR_CALM); a peer
  that stops reading stops being read (transport back-pressure);
- a drain: GOAWAY with the last stream taken, the streams in flight finish, then the connection closes.

gRPC itself (call dispatch, message framing, status trailers) lives in :mod:`serving_image.rpc.server`, which
implements :class:`Dispatcher`.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# Error codes (RFC 9113 section 7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 0x5, 0x6, 0x7, 0x8, 0x9
ENHANCE_YOUR_CALM = 0xB
# SETTINGS identifiers.
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE = 0x1, 0x2, 0x3, 0x4
S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = 0x5, 0x6

DEFAULT_WINDOW = 65_535
MAX_WINDOW = 2**31 - 1
MAX_FRAME = 16_384  # what we accept (the protocol's minimum maximum); peers may allow us more
MAX_STREAMS = 256
MAX_HEADER_LIST = 16_384
STREAM_WINDOW = 1 << 20  # per stream: a MobileNet-sized request arrives without waiting for WINDOW_UPDATEs
CONNECTION_WINDOW = 16 << 20
# Peer misbehaviour budget per connection per second: resets of streams we had not finished, empty DATA
# frames, and frames that cost us work without a request (PING, SETTINGS, PRIORITY, WINDOW_UPDATE).
ABUSE_PER_SECOND = 2_000
# After GOAWAY, once the last stream is answered, how long the connection stays open for the peer to close it
# first: streams it opened before it read the GOAWAY are refused (REFUSED_STREAM, which clients retry) instead
# of lost in a reset, which closing a socket with unread data sends.
LINGER_S = 1.0

_HEAD = struct.Struct(">I")
_SETTING = struct.Struct(">HI")


def hpack_integer(value: int, prefix_bits: int, first: int) -> bytes:
    """An HPACK integer (RFC 7541 §5.1) with an N-bit prefix, OR-ed into ``first``."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack_string(raw: bytes) -> bytes:
    """An HPACK string literal, not Huffman-coded (§5.2)."""
    return hpack_integer(len(raw), 7, 0) + raw


def hpack_literal(name: str, value: str) -> bytes:
    """A header field as a literal without indexing, new name (§6.2.2): no state shared with the decoder."""
    return b"\x00" + hpack_string(name.encode("ascii")) + hpack_string(value.encode("ascii"))


def frame(kind: int, flags: int, stream: int, payload: bytes | bytearray | memoryview = b"") -> bytes:
    return b"".join((_HEAD.pack(len(payload))[1:], bytes((kind, flags)), _HEAD.pack(stream), payload))


class ConnectionError_(Exception):  # noqa: N801 - not the builtin: an HTTP/2 connection error to send
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class Stream:
    """One request stream: its headers, its body so far, its send window, what still waits for that window,
    and the task answering it."""

    __slots__ = (
        "id",
        "headers",
        "body",
        "ended",
        "window",
        "recv_unacked",
        "outbox",
        "trailers",
        "task",
        "done",
        "held",
    )

    def __init__(self, stream_id: int, window: int) -> None:
        self.id = stream_id
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.ended = False  # the peer's half is closed
        self.window = window
        self.recv_unacked = 0
        self.outbox = bytearray()  # DATA payload waiting for flow-control window
        self.trailers: bytes | None = None  # the final HEADERS block, sent once the outbox is empty
        self.task: asyncio.Task[Any] | None = None
        self.done = False  # our half is closed
        self.held = 0  # bytes of an unfinished request body counted against the server-wide bound


class Dispatcher(Protocol):
    max_message_bytes: int

    def reserve(self, size: int) -> bool:
        """Count ``size`` more bytes of unfinished request bodies; False when that would pass the bound."""

    def release(self, size: int) -> None:
        """Those bytes are no longer held (the request is complete, refused or gone)."""

    def busy(self, connection: H2Connection, stream: Stream) -> None:
        """Answer a stream refused because the server holds too many unfinished request bodies."""

    def dispatch(self, connection: H2Connection, stream: Stream) -> None:
        """Start answering a stream whose request is complete (``stream.ended``)."""

    def too_large(self, connection: H2Connection, stream: Stream) -> None:
        """Answer a stream whose body passed ``max_message_bytes``."""


class H2Connection(asyncio.Protocol):
    """One client connection. Not thread-safe: everything runs on the event loop."""

    def __init__(self, dispatcher: Dispatcher, on_close: Callable[[H2Connection], None]) -> None:
        self.dispatcher = dispatcher
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.preface_seen = False
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = MAX_HEADER_LIST
        self.decoder.max_allowed_table_size = 4096
        self.header_cache: dict[bytes, list[tuple[str, str]]] = {}
        self.streams: dict[int, Stream] = {}
        self.last_stream = 0  # the highest stream id the peer opened
        self.send_window = DEFAULT_WINDOW  # connection-level, for our DATA
        self.peer_stream_window = DEFAULT_WINDOW
        self.peer_max_frame = MAX_FRAME
        self.recv_unacked = 0
        self.continuing: Stream | None = None  # the stream whose header block is still arriving
        self.header_fragment = bytearray()
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.blocked: set[Stream] = set()  # streams with DATA waiting for window
        self.goaway_sent = False
        self.closed = False
        self.writing_paused = False
        self.abuse = 0
        self.abuse_since = time.monotonic()
        self._block_is_trailers = False
        self._block_refused = False
        self.idle_waiter: asyncio.Future[None] | None = None
        self.linger: asyncio.TimerHandle | None = None
        self.lost: asyncio.Future[None] | None = None  # resolved when the transport is gone

    # -- transport callbacks ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.lost = asyncio.get_running_loop().create_future()
        settings = b"".join(
            _SETTING.pack(key, value)
            for key, value in (
                (S_ENABLE_PUSH, 0),
                (S_MAX_CONCURRENT_STREAMS, MAX_STREAMS),
                (S_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
                (S_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST),
            )
        )
        self.out.append(frame(SETTINGS, 0, 0, settings))
        self.out.append(frame(WINDOW_UPDATE, 0, 0, _HEAD.pack(CONNECTION_WINDOW - DEFAULT_WINDOW)))
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.linger is not None:
            self.linger.cancel()
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        for stream in list(self.streams.values()):
            self._release(stream)
            if stream.task is not None and not stream.task.done():
                stream.task.cancel()
        self.streams.clear()
        self.blocked.clear()
        self._check_idle()
        self.on_close(self)

    def pause_writing(self) -> None:
        # The peer does not read what we send: stop reading what it sends until it catches up.
        self.writing_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        try:
            if not self.preface_seen:
                if len(buffer) < len(PREFACE):
                    if not PREFACE.startswith(bytes(buffer)):
                        raise ConnectionError_(PROTOCOL_ERROR, "not an HTTP/2 connection preface (h2c prior knowledge)")
                    return
                if buffer[: len(PREFACE)] != PREFACE:
                    raise ConnectionError_(PROTOCOL_ERROR, "not an HTTP/2 connection preface (h2c prior knowledge)")
                del buffer[: len(PREFACE)]
                self.preface_seen = True
            offset = 0
            size = len(buffer)
            view = memoryview(buffer)
            try:
                while size - offset >= 9:
                    length = int.from_bytes(view[offset : offset + 3], "big")
                    if length > MAX_FRAME:
                        raise ConnectionError_(FRAME_SIZE_ERROR, f"a frame of {length} bytes (at most {MAX_FRAME})")
                    end = offset + 9 + length
                    if end > size:
                        break
                    kind = view[offset + 3]
                    flags = view[offset + 4]
                    stream_id = _HEAD.unpack_from(view, offset + 5)[0] & 0x7FFFFFFF
                    self._frame(kind, flags, stream_id, bytes(view[offset + 9 : end]))
                    offset = end
            finally:
                view.release()
            del buffer[:offset]
            if self.recv_unacked >= CONNECTION_WINDOW // 2:
                self.out.append(frame(WINDOW_UPDATE, 0, 0, _HEAD.pack(self.recv_unacked)))
                self.recv_unacked = 0
        except ConnectionError_ as exc:
            self.fail(exc.code, str(exc))
        except hpack.HPACKError as exc:
            self.fail(COMPRESSION_ERROR, f"header block: {exc}")
        except UnicodeDecodeError:
            self.fail(PROTOCOL_ERROR, "a header name or value is not UTF-8")
        self.flush()

    # -- frames ----------------------------------------------------------------------------------------------

    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self.continuing is not None and kind != CONTINUATION:
            raise ConnectionError_(PROTOCOL_ERROR, "a header block was interrupted by another frame")
        if kind == DATA:
            self._data(flags, stream_id, payload)
        elif kind == HEADERS:
            self._headers(flags, stream_id, payload)
        elif kind == CONTINUATION:
            stream = self.continuing
            if stream is None or stream.id != stream_id:
                raise ConnectionError_(PROTOCOL_ERROR, "CONTINUATION without a header block in progress")
            self._fragment(stream, flags, payload, None)
        elif kind == RST_STREAM:
            if stream_id == 0 or len(payload) != 4:
                raise ConnectionError_(PROTOCOL_ERROR, "malformed RST_STREAM")
            stream = self.streams.pop(stream_id, None)
            if stream is not None:
                self._charge()
                self._release(stream)
                stream.done = True
                self.blocked.discard(stream)
                if stream.task is not None and not stream.task.done():
                    stream.task.cancel()
                self._check_idle()
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == PING:
            if stream_id != 0 or len(payload) != 8:
                raise ConnectionError_(PROTOCOL_ERROR if stream_id else FRAME_SIZE_ERROR, "malformed PING")
            if not flags & ACK:
                self._charge()
                self.out.append(frame(PING, ACK, 0, payload))
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, payload)
        elif kind == GOAWAY:
            pass  # the peer opens no more streams; the ones in flight are still answered
        elif kind == PRIORITY:
            if stream_id == 0 or len(payload) != 5:
                raise ConnectionError_(PROTOCOL_ERROR, "malformed PRIORITY")
            self._charge()
        elif kind == PUSH_PROMISE:
            raise ConnectionError_(PROTOCOL_ERROR, "a client cannot push")
        # Unknown frame types are ignored (RFC 9113 section 4.1).

    def _charge(self, cost: int = 1) -> None:
        now = time.monotonic()
        if now - self.abuse_since >= 1.0:
            self.abuse, self.abuse_since = 0, now
        self.abuse += cost
        if self.abuse > ABUSE_PER_SECOND:
            raise ConnectionError_(ENHANCE_YOUR_CALM, "too many resets or empty frames")

    @staticmethod
    def _unpad(flags: int, payload: bytes) -> bytes:
        if not flags & PADDED:
            return payload
        if not payload or payload[0] >= len(payload):
            raise ConnectionError_(PROTOCOL_ERROR, "padding longer than the frame")
        return payload[1 : len(payload) - payload[0]]

    def _data(self, flags: int, stream_id: int, payload: bytes) -> None:
        self.recv_unacked += len(payload)  # padding counts against the window too
        if stream_id == 0:
            raise ConnectionError_(PROTOCOL_ERROR, "DATA on stream 0")
        stream = self.streams.get(stream_id)
        if stream is None or stream.ended:
            if stream_id > self.last_stream:
                raise ConnectionError_(PROTOCOL_ERROR, "DATA on a stream that was never opened")
            if stream is not None:  # DATA after the peer ended its half
                if stream.task is not None and not stream.task.done():
                    stream.task.cancel()
                self._finish(stream)
                self._reset(stream_id, STREAM_CLOSED)
            return  # frames in flight for a stream we answered, reset or refused: ignored (RFC 9113 5.4.2)
        body = self._unpad(flags, payload)
        if not body and not flags & END_STREAM:
            self._charge()
        if len(stream.body) + len(body) > self.dispatcher.max_message_bytes + 5:
            self._release(stream)
            stream.body = bytearray()
            self.dispatcher.too_large(self, stream)
            return
        if body and not flags & END_STREAM:
            if not self.dispatcher.reserve(len(body)):
                self._release(stream)
                stream.body = bytearray()
                self.dispatcher.busy(self, stream)
                return
            stream.held += len(body)
        stream.body += body
        if flags & END_STREAM:
            stream.ended = True
            self._release(stream)  # complete: from here the queue bound (MAX_QUEUE_SIZE) limits it
            self.dispatcher.dispatch(self, stream)
        else:
            stream.recv_unacked += len(payload)
            if stream.recv_unacked >= STREAM_WINDOW // 2:
                self.out.append(frame(WINDOW_UPDATE, 0, stream_id, _HEAD.pack(stream.recv_unacked)))
                stream.recv_unacked = 0

    def _headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ConnectionError_(PROTOCOL_ERROR, "HEADERS on stream 0")
        block = self._unpad(flags, payload)
        if flags & PRIORITY_FLAG:
            if len(block) < 5:
                raise ConnectionError_(FRAME_SIZE_ERROR, "HEADERS too short for its priority fields")
            block = block[5:]
        stream = self.streams.get(stream_id)
        if stream is not None:  # trailers from the client: they end its half
            if stream.ended:
                raise ConnectionError_(STREAM_CLOSED, "HEADERS on a half-closed stream")
            stream.ended = bool(flags & END_STREAM)
            if not stream.ended:
                raise ConnectionError_(PROTOCOL_ERROR, "trailers without END_STREAM")
            self._fragment(stream, flags, block, trailers=True)
            return
        if stream_id % 2 == 0 or stream_id <= self.last_stream:
            raise ConnectionError_(PROTOCOL_ERROR, f"stream {stream_id} is not a new client stream")
        self.last_stream = stream_id
        stream = Stream(stream_id, self.peer_stream_window)
        stream.ended = bool(flags & END_STREAM)
        refused = self.goaway_sent or len(self.streams) >= MAX_STREAMS
        if not refused:
            self.streams[stream_id] = stream
        self._fragment(stream, flags, block, trailers=False, refused=refused)

    def _fragment(self, stream: Stream, flags: int, block: bytes, trailers: bool | None, refused: bool = False) -> None:
        """Collect a header block over HEADERS and CONTINUATION frames; decode it once complete."""
        if trailers is not None:  # a HEADERS frame: a new block
            self.header_fragment = bytearray(block)
            self._block_is_trailers = trailers
            self._block_refused = refused
        else:
            self.header_fragment += block
        if len(self.header_fragment) > MAX_HEADER_LIST:
            raise ConnectionError_(ENHANCE_YOUR_CALM, f"a header block over {MAX_HEADER_LIST} bytes")
        if not flags & END_HEADERS:
            self.continuing = stream
            return
        self.continuing = None
        # Decoded even when refused: the HPACK dynamic table is shared by the whole connection.
        headers = self._decode(bytes(self.header_fragment))
        self.header_fragment = bytearray()
        if self._block_refused:
            self._reset(stream.id, REFUSED_STREAM)
            return
        if self._block_is_trailers:
            self.dispatcher.dispatch(self, stream)
            return
        stream.headers = headers
        if stream.ended:
            self.dispatcher.dispatch(self, stream)

    def _decode(self, block: bytes) -> list[tuple[str, str]]:
        """HPACK-decode a header block, remembering the answer for blocks that leave the dynamic table as it
        was: a client sends the same block for every call of a method, and decoding it again costs more than
        the call. Any block that changes the table (an insertion, a size update) empties the memory, since
        the same bytes may then name other entries."""
        cached = self.header_cache.get(block)
        if cached is not None:
            return cached
        table = self.decoder.header_table
        entries = table.dynamic_entries
        before = (len(entries), entries[0] if entries else None, table.maxsize)
        headers = self.decoder.decode(block)
        if (len(entries), entries[0] if entries else None, table.maxsize) == before and (
            not entries or entries[0] is before[1]
        ):
            if len(self.header_cache) < 64:
                self.header_cache[block] = headers
        else:
            self.header_cache.clear()
        return headers

    def _settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0:
            raise ConnectionError_(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if payload:
                raise ConnectionError_(FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise ConnectionError_(FRAME_SIZE_ERROR, "SETTINGS payload not a multiple of 6")
        self._charge()
        for offset in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == S_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise ConnectionError_(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1")
                delta = value - self.peer_stream_window
                self.peer_stream_window = value
                for stream in self.streams.values():
                    stream.window += delta
            elif key == S_MAX_FRAME_SIZE:
                if not 16_384 <= value <= 16_777_215:
                    raise ConnectionError_(PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range")
                self.peer_max_frame = value
            elif key == S_ENABLE_PUSH and value > 1:
                raise ConnectionError_(PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH must be 0 or 1")
        self.out.append(frame(SETTINGS, ACK, 0))
        self._pump_blocked()

    def _window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ConnectionError_(FRAME_SIZE_ERROR, "malformed WINDOW_UPDATE")
        increment = _HEAD.unpack(payload)[0] & 0x7FFFFFFF
        if stream_id == 0:
            if increment == 0:
                raise ConnectionError_(PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self.send_window += increment
            if self.send_window > MAX_WINDOW:
                raise ConnectionError_(FLOW_CONTROL_ERROR, "connection window over 2^31-1")
            self._pump_blocked()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            self._charge()
            return
        if increment == 0 or stream.window + increment > MAX_WINDOW:
            self._finish(stream)
            self._reset(stream_id, PROTOCOL_ERROR if increment == 0 else FLOW_CONTROL_ERROR)
            return
        stream.window += increment
        if stream.outbox:
            self._pump(stream)

    # -- sending ---------------------------------------------------------------------------------------------

    def respond(self, stream: Stream, headers: bytes | None, data: bytes, trailers: bytes | None) -> None:
        """Queue a HEADERS block (unless None: already sent), DATA, and the trailers that end the stream
        (None: more messages follow). DATA beyond the flow-control windows waits for WINDOW_UPDATE."""
        if stream.done or self.closed:
            return
        if headers is not None:
            self.out.append(frame(HEADERS, END_HEADERS, stream.id, headers))
        if data:
            stream.outbox += data
        if trailers is not None:
            stream.trailers = trailers
        self._pump(stream)
        self._schedule_flush()

    def trailers_only(self, stream: Stream, block: bytes) -> None:
        """A complete answer in one HEADERS frame (gRPC's Trailers-Only response)."""
        if stream.done or self.closed:
            return
        self.out.append(frame(HEADERS, END_HEADERS | END_STREAM, stream.id, block))
        self._finish(stream)
        self._schedule_flush()

    def _pump(self, stream: Stream) -> None:
        outbox = stream.outbox
        while outbox:
            size = min(len(outbox), self.send_window, stream.window, self.peer_max_frame)
            if size <= 0:
                self.blocked.add(stream)
                return
            self.out.append(frame(DATA, 0, stream.id, outbox[:size]))
            del outbox[:size]
            self.send_window -= size
            stream.window -= size
        self.blocked.discard(stream)
        if stream.trailers is not None:
            self.out.append(frame(HEADERS, END_HEADERS | END_STREAM, stream.id, stream.trailers))
            self._finish(stream)

    def _pump_blocked(self) -> None:
        for stream in list(self.blocked):
            if self.send_window <= 0:
                break
            self._pump(stream)

    def _release(self, stream: Stream) -> None:
        if stream.held:
            self.dispatcher.release(stream.held)
            stream.held = 0

    def _finish(self, stream: Stream) -> None:
        self._release(stream)
        stream.done = True
        self.blocked.discard(stream)
        if not stream.ended:
            # We answered before the request ended (too large, or refused): tell the peer to stop sending.
            self.out.append(frame(RST_STREAM, 0, stream.id, _HEAD.pack(NO_ERROR)))
        self.streams.pop(stream.id, None)
        self._check_idle()

    def _reset(self, stream_id: int, code: int) -> None:
        self.out.append(frame(RST_STREAM, 0, stream_id, _HEAD.pack(code)))

    def _schedule_flush(self) -> None:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def fail(self, code: int, reason: str) -> None:
        """A connection error: GOAWAY with the reason, then close."""
        if self.closed or self.transport is None:
            return
        self.out.append(frame(GOAWAY, 0, 0, _HEAD.pack(self.last_stream) + _HEAD.pack(code) + reason.encode()[:256]))
        self.flush()
        self.closed = True
        self.transport.close()

    # -- drain -----------------------------------------------------------------------------------------------

    def goaway(self) -> None:
        """Take no stream after the last one opened; the ones in flight finish."""
        if self.closed or self.goaway_sent:
            return
        self.goaway_sent = True
        self.out.append(frame(GOAWAY, 0, 0, _HEAD.pack(self.last_stream) + _HEAD.pack(NO_ERROR)))
        self.flush()
        self._check_idle()

    def _check_idle(self) -> None:
        if self.goaway_sent and not self.streams:
            if self.idle_waiter is not None and not self.idle_waiter.done():
                self.idle_waiter.set_result(None)
            if not self.closed and self.transport is not None and self.linger is None:
                self.flush()
                self.linger = asyncio.get_running_loop().call_later(LINGER_S, self.close)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.flush()
            self.closed = True
            self.transport.close()

    async def wait_idle(self) -> None:
        if self.closed or not self.streams:
            return
        self.idle_waiter = asyncio.get_running_loop().create_future()
        await self.idle_waiter

    def cancel_all(self) -> None:
        for stream in list(self.streams.values()):
            if stream.task is not None and not stream.task.done():
                stream.task.cancel()
        self.close()
