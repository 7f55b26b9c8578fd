"""The gRPC transport (serving_image/rpc/h2.py) against a real server: flow control both ways on messages
larger than every window, compressed requests, deadlines, unknown methods, and the bounds that hold against
hostile peers (bad preface, rapid reset, header-block and stream floods, a peer with a tiny window). The
well-behaved cases use grpcio's own client; the hostile ones speak raw HTTP/2 frames."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import hpack
import numpy as np
import pytest

from serving_image.rpc import h2
from serving_image.rpc.protos import (
    health_pb2,
    health_service_pb2_grpc,
    open_inference_pb2,
    open_inference_service_pb2_grpc,
)

from .serving_helpers import FakeRuntime, ThreadedServer

INFER = "/inference.GRPCInferenceService/ModelInfer"
WATCH = "/grpc.health.v1.Health/Watch"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ThreadedServer, FakeRuntime]]:
    runtime = FakeRuntime()
    with ThreadedServer(tmp_path, runtime, env={"MAX_REQUEST_BYTES": str(8 << 20)}) as server:
        yield server, runtime


def _infer_request(values: np.ndarray) -> open_inference_pb2.ModelInferRequest:
    request = open_inference_pb2.ModelInferRequest(model_name="model")
    request.inputs.add(name="x", datatype="FP32", shape=values.shape)
    request.raw_input_contents.append(values.astype("<f4").tobytes())
    return request


def _grpc_message(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


class RawPeer:
    """A blocking HTTP/2 client that writes frames as told and reads them back one by one."""

    def __init__(self, port: int, settings: dict[int, int] | None = None, preface: bytes = h2.PREFACE) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        payload = b"".join(struct.pack(">HI", k, v) for k, v in (settings or {}).items())
        self.sock.sendall(preface + h2.frame(h2.SETTINGS, 0, 0, payload))
        self.encoder, self.decoder = hpack.Encoder(), hpack.Decoder()
        self.buffer = b""

    def send(self, kind: int, flags: int, stream: int, payload: bytes = b"") -> None:
        self.sock.sendall(h2.frame(kind, flags, stream, payload))

    def block(self, path: str, content_type: str = "application/grpc", extra: tuple = ()) -> bytes:
        return self.encoder.encode(
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", path),
                (":authority", "localhost"),
                ("content-type", content_type),
                ("te", "trailers"),
                *extra,
            ]
        )

    def call(self, stream: int, path: str, message: bytes, **block: object) -> None:
        self.send(h2.HEADERS, h2.END_HEADERS, stream, self.block(path, **block))  # type: ignore[arg-type]
        self.send(h2.DATA, h2.END_STREAM, stream, _grpc_message(message))

    def read(self) -> tuple[int, int, int, bytes] | None:
        """The next frame, or None once the server closed the connection."""
        while len(self.buffer) < 9 or len(self.buffer) < 9 + int.from_bytes(self.buffer[:3], "big"):
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buffer += chunk
        length = int.from_bytes(self.buffer[:3], "big")
        kind, flags = self.buffer[3], self.buffer[4]
        stream = struct.unpack(">I", self.buffer[5:9])[0] & 0x7FFFFFFF
        payload, self.buffer = self.buffer[9 : 9 + length], self.buffer[9 + length :]
        return kind, flags, stream, payload

    def until(self, kind: int, stream: int | None = None) -> tuple[int, int, int, bytes]:
        while True:
            got = self.read()
            assert got is not None, f"the connection closed before a frame of type {kind}"
            if got[0] == kind and (stream is None or got[2] == stream):
                return got

    def headers(self, payload: bytes) -> dict[str, str]:
        return dict(self.decoder.decode(payload))

    def close(self) -> None:
        self.sock.close()


def _goaway(peer: RawPeer) -> tuple[int, str]:
    _, _, _, payload = peer.until(h2.GOAWAY)
    return struct.unpack(">I", payload[4:8])[0], payload[8:].decode()


def _still_serving(server: ThreadedServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        reply = stub.ModelInfer(_infer_request(np.ones((1, 2), np.float32)))
        assert np.frombuffer(reply.raw_output_contents[0], "<f4").tolist() == [2.0, 2.0]


def test_messages_larger_than_every_window_cross_both_ways(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    # 3 MB in and out: past the server's 1 MiB stream window and the client's 64 KiB default.
    values = np.full((375_000, 2), 0.5, dtype=np.float32)  # (the fake model refuses 13)
    with grpc.insecure_channel(f"127.0.0.1:{served[0].grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        reply = stub.ModelInfer(_infer_request(values))
        gzipped = stub.ModelInfer(_infer_request(values[:1000]), compression=grpc.Compression.Gzip)
    assert np.array_equal(np.frombuffer(reply.raw_output_contents[0], "<f4").reshape(-1, 2), values * 2)
    assert np.array_equal(np.frombuffer(gzipped.raw_output_contents[0], "<f4").reshape(-1, 2), values[:1000] * 2)


def test_unknown_method_is_unimplemented_and_health_watch_streams(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{served[0].grpc_port}") as channel:
        nope = channel.unary_unary("/inference.GRPCInferenceService/Nope")
        with pytest.raises(grpc.RpcError) as error:
            nope(b"")
        assert error.value.code() is grpc.StatusCode.UNIMPLEMENTED
        assert "/inference.GRPCInferenceService/Nope" in error.value.details()
        watch = health_service_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
    _still_serving(served[0])


def test_the_server_enforces_grpc_timeout(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    server, runtime = served
    runtime.gate.clear()  # the model holds every call
    peer = RawPeer(server.grpc_port)
    try:
        message = _infer_request(np.ones((1, 2), np.float32)).SerializeToString()
        peer.call(1, INFER, message, extra=(("grpc-timeout", "200m"),))
        _, flags, _, block = peer.until(h2.HEADERS, 1)
        answer = peer.headers(block)
        assert flags & h2.END_STREAM
        assert answer["grpc-status"] == "4"  # DEADLINE_EXCEEDED, decided by the server, not the client
        peer.call(3, INFER, message, extra=(("grpc-timeout", "soon"),))
        answer = peer.headers(peer.until(h2.HEADERS, 3)[3])
        assert answer["grpc-status"] == "3"  # INVALID_ARGUMENT
        assert "grpc-timeout" in answer["grpc-message"]
    finally:
        runtime.gate.set()
        peer.close()
    _still_serving(server)


def test_not_grpc_and_oversized_messages_are_refused(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    server, _ = served
    peer = RawPeer(server.grpc_port)
    try:
        peer.call(1, INFER, b"", content_type="application/json")
        assert peer.headers(peer.until(h2.HEADERS, 1)[3])[":status"] == "415"
        # Past MAX_REQUEST_BYTES (8 MiB here): answered RESOURCE_EXHAUSTED before the body ends.
        peer.send(h2.HEADERS, h2.END_HEADERS, 3, peer.block(INFER))
        peer.send(h2.WINDOW_UPDATE, 0, 0, struct.pack(">I", 1))
        chunk = b"\x00" * h2.MAX_FRAME
        answer: dict[str, str] = {}
        for _ in range((9 << 20) // h2.MAX_FRAME):
            peer.send(h2.DATA, 0, 3, chunk)
        while not answer:
            got = peer.read()
            assert got is not None
            if got[0] == h2.HEADERS and got[2] == 3:
                answer = peer.headers(got[3])
        assert answer["grpc-status"] == "8"  # RESOURCE_EXHAUSTED
        assert "MAX_REQUEST_BYTES" in answer["grpc-message"]
    finally:
        peer.close()
    _still_serving(server)


def test_a_tiny_peer_window_is_respected(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    peer = RawPeer(served[0].grpc_port, settings={h2.S_INITIAL_WINDOW_SIZE: 100})
    try:
        peer.call(1, INFER, _infer_request(np.ones((50, 2), np.float32)).SerializeToString())
        received = 0
        deadline = time.monotonic() + 1.0
        peer.sock.settimeout(0.2)
        while time.monotonic() < deadline:  # everything the server sends before we open the window
            try:
                got = peer.read()
            except TimeoutError:
                continue
            assert got is not None
            if got[0] == h2.DATA:
                received += len(got[3])
            assert not (got[0] == h2.HEADERS and got[1] & h2.END_STREAM), "the answer ended inside 100 bytes"
        assert received == 100  # exactly the window, not a byte more
        peer.sock.settimeout(10)
        peer.send(h2.WINDOW_UPDATE, 0, 1, struct.pack(">I", 10_000))
        data = b""
        while True:
            kind, flags, stream, payload = peer.read() or (None, 0, 0, b"")
            assert kind is not None
            if kind == h2.DATA:
                data += payload
            if kind == h2.HEADERS and flags & h2.END_STREAM:
                assert peer.headers(payload)["grpc-status"] == "0"
                break
        assert received + len(data) > 400  # the whole 400-byte tensor and its envelope arrived after the update
    finally:
        peer.close()


def test_protocol_errors_end_the_connection_with_goaway(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    server, _ = served
    bad = RawPeer(server.grpc_port, preface=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _goaway(bad)[0] == h2.PROTOCOL_ERROR
    assert bad.read() is None  # closed
    bad.close()
    even = RawPeer(server.grpc_port)
    even.send(h2.HEADERS, h2.END_HEADERS, 2, even.block(INFER))  # clients open odd streams only
    assert _goaway(even)[0] == h2.PROTOCOL_ERROR
    even.close()
    latin = RawPeer(server.grpc_port)  # a header value that is not UTF-8, as a literal without indexing
    block = latin.block(INFER) + b"\x00" + bytes([4]) + b"x-id" + bytes([2]) + b"\xff\xfe"
    latin.send(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, 1, block)
    assert _goaway(latin)[0] in (h2.PROTOCOL_ERROR, h2.COMPRESSION_ERROR)  # hpack reports it as the latter
    latin.close()
    _still_serving(server)


def test_floods_end_in_enhance_your_calm_and_other_clients_are_served(
    served: tuple[ThreadedServer, FakeRuntime],
) -> None:
    server, _ = served
    # Rapid reset: open and cancel streams as fast as the socket allows.
    reset = RawPeer(server.grpc_port)
    block = reset.block(WATCH)
    frames = b"".join(
        h2.frame(h2.HEADERS, h2.END_HEADERS, stream, block) + h2.frame(h2.RST_STREAM, 0, stream, struct.pack(">I", 8))
        for stream in range(1, 2 * (h2.ABUSE_PER_SECOND + 50), 2)
    )
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        reset.sock.sendall(frames)
    code, reason = _goaway(reset)
    assert code == h2.ENHANCE_YOUR_CALM and "resets" in reason
    reset.close()
    # A header block that never ends: CONTINUATION frames past the header-list bound.
    flood = RawPeer(server.grpc_port)
    flood.send(h2.HEADERS, 0, 1, flood.block(INFER))
    try:
        for _ in range(h2.MAX_HEADER_LIST // 1000 + 2):
            flood.send(h2.CONTINUATION, 0, 1, b"\x00" * 1000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert _goaway(flood)[0] == h2.ENHANCE_YOUR_CALM
    flood.close()
    _still_serving(server)


def test_streams_past_the_concurrency_bound_are_refused(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    server, _ = served
    peer = RawPeer(server.grpc_port)
    try:
        message = _grpc_message(health_pb2.HealthCheckRequest(service="").SerializeToString())
        frames = b""
        for index in range(h2.MAX_STREAMS + 1):  # Watch streams stay open
            stream = 2 * index + 1
            frames += h2.frame(h2.HEADERS, h2.END_HEADERS, stream, peer.block(WATCH))
            frames += h2.frame(h2.DATA, h2.END_STREAM, stream, message)
        peer.sock.sendall(frames)
        last = 2 * h2.MAX_STREAMS + 1
        _, _, _, payload = peer.until(h2.RST_STREAM, last)
        assert struct.unpack(">I", payload)[0] == h2.REFUSED_STREAM
    finally:
        peer.close()
    _still_serving(server)


def test_after_goaway_late_streams_are_refused_not_reset(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    server = ThreadedServer(tmp_path, runtime)
    server.__enter__()
    peer = RawPeer(server.grpc_port)
    try:
        peer.until(h2.SETTINGS)
        threading.Thread(target=server.stop, daemon=True).start()  # the SIGTERM drain
        _, _, _, payload = peer.until(h2.GOAWAY)
        assert struct.unpack(">I", payload[4:8])[0] == h2.NO_ERROR
        # A stream the client opened before it read the GOAWAY: refused (retryable), on a connection still open.
        peer.call(1, INFER, _infer_request(np.ones((1, 2), np.float32)).SerializeToString())
        _, _, _, payload = peer.until(h2.RST_STREAM, 1)
        assert struct.unpack(">I", payload)[0] == h2.REFUSED_STREAM
    finally:
        peer.close()
        server.stop()


def test_unfinished_bodies_are_bounded_across_connections(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    server, _ = served
    server.server.grpc.max_held_bytes = 100_000  # (64 MiB or 4 x MAX_REQUEST_BYTES by default)
    peers = [RawPeer(server.grpc_port) for _ in range(3)]
    try:
        for peer in peers:  # two streams that never end hold 80,000 bytes; the third would pass 100,000
            peer.send(h2.HEADERS, h2.END_HEADERS, 1, peer.block(INFER))
            for _ in range(4):
                peer.send(h2.DATA, 0, 1, b"\x00" * 10_000)
            if peer is not peers[2]:
                deadline = time.monotonic() + 5
                while server.server.grpc.held_bytes < 40_000 * (peers.index(peer) + 1) and time.monotonic() < deadline:
                    time.sleep(0.01)
        late = peers[2]
        answer = late.headers(late.until(h2.HEADERS, 1)[3])
        assert answer["grpc-status"] == "14"  # UNAVAILABLE: retry later or elsewhere
        assert "unfinished requests" in answer["grpc-message"]
        assert late.until(h2.RST_STREAM, 1)  # and it is told to stop sending
        peers[0].send(h2.RST_STREAM, 0, 1, struct.pack(">I", h2.CANCEL))  # a reset gives its bytes back
        deadline = time.monotonic() + 5
        while server.server.grpc.held_bytes != 40_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.server.grpc.held_bytes == 40_000
    finally:
        for peer in peers:
            peer.close()
    _still_serving(server)
    deadline = time.monotonic() + 5
    while server.server.grpc.held_bytes and time.monotonic() < deadline:  # closed connections give theirs back
        time.sleep(0.01)
    assert server.server.grpc.held_bytes == 0


def test_a_second_drain_request_starts_no_second_watchdog(tmp_path: Path) -> None:
    with ThreadedServer(tmp_path, FakeRuntime()) as server:
        server.server.begin_drain("first")
        watchdog = server.server._watchdog
        server.server.begin_drain("second")  # e.g. SIGTERM from the platform and a test's stop
        assert server.server._watchdog is watchdog
    assert watchdog is not None and watchdog.finished.is_set()  # cancelled when the drain ended


def test_compressed_messages_are_bounded_and_checked(served: tuple[ThreadedServer, FakeRuntime]) -> None:
    import gzip

    server, _ = served
    peer = RawPeer(server.grpc_port)
    try:
        message = _infer_request(np.ones((1, 2), np.float32)).SerializeToString()

        def call(stream: int, payload: bytes, encoding: str) -> dict[str, str]:
            peer.send(h2.HEADERS, h2.END_HEADERS, stream, peer.block(INFER, extra=(("grpc-encoding", encoding),)))
            peer.send(h2.DATA, h2.END_STREAM, stream, b"\x01" + struct.pack(">I", len(payload)) + payload)
            while True:
                kind, flags, got, block = peer.until(h2.HEADERS, stream)
                if flags & h2.END_STREAM:
                    return peer.headers(block)
                peer.headers(block)  # the response headers before the message

        assert call(1, gzip.compress(message), "gzip")["grpc-status"] == "0"
        assert call(3, gzip.compress(message)[:-6], "gzip")["grpc-status"] == "13"  # truncated: INTERNAL
        bomb = gzip.compress(b"\x00" * (9 << 20))  # 9 MiB of zeros in a few KB, past MAX_REQUEST_BYTES (8 MiB)
        answer = call(5, bomb, "gzip")
        assert answer["grpc-status"] == "8" and "decompressed" in answer["grpc-message"]
        answer = call(7, message, "snappy")
        assert answer["grpc-status"] == "12" and answer["grpc-accept-encoding"] == "identity,deflate,gzip"
    finally:
        peer.close()
    _still_serving(server)
