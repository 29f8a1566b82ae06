"""An independent HTTP/2 peer (the `h2` package) for the server's protocol tests.

Usage: h2_peer.py PORT SCENARIO. Runs one scenario against 127.0.0.1:PORT and
prints one line, `result KEY=VALUE ...`, saying what the server answered; the
Swift test (NGHTTP2PeerTests) judges it. Every wait has a timeout.
"""

import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

PORT = int(sys.argv[1])
SCENARIO = sys.argv[2]
TIMEOUT = 5.0


def grpc_frame(message: bytes, flag: int = 0, length=None) -> bytes:
    return struct.pack(">BI", flag, len(message) if length is None else length) + message


def request_headers(path, content_type="application/grpc", extra=(), te="trailers"):
    return [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", f"127.0.0.1:{PORT}"),
        ("content-type", content_type), *([("te", te)] if te is not None else []), *extra,
    ]


class Peer:
    def __init__(self, validate=True):
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=validate))
        self.conn.initiate_connection()
        self.flush()
        self.closed = False
        self.goaway = None
        self.ping_acks = 0
        self.responses = {}  # stream id -> {"headers": [...], "data": b"", "trailers": [...], "reset": code, "ended": bool}

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def stream(self, sid):
        return self.responses.setdefault(sid, {"headers": None, "data": b"", "trailers": None, "reset": None, "ended": False})

    def pump(self, until, timeout=TIMEOUT):
        """Reads events until `until()` is true, the connection closes, or the timeout."""
        deadline = time.monotonic() + timeout
        while not until() and not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.closed = True
                break
            self.record(events)
            try:
                self.flush()
            except OSError:
                self.closed = True
        return until()

    def record(self, events):
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                self.stream(event.stream_id)["headers"] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                self.stream(event.stream_id)["data"] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                self.stream(event.stream_id)["trailers"] = dict(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                self.stream(event.stream_id)["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                self.stream(event.stream_id)["reset"] = int(event.error_code)
            elif isinstance(event, h2.events.PingAckReceived):
                self.ping_acks += 1
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = (int(event.error_code), (event.additional_data or b"").decode("utf-8", "replace"))

    def read_through_goaways(self, timeout=TIMEOUT):
        """Reads until the connection closes, counting GOAWAY frames instead of
        giving them to h2 (which takes any GOAWAY for the end of the
        connection and refuses the frames after it); returns their error codes."""
        codes, pending = [], b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                break
            pending += data
            while len(pending) >= 9 and len(pending) >= 9 + int.from_bytes(pending[:3], "big"):
                size = 9 + int.from_bytes(pending[:3], "big")
                frame, pending = pending[:size], pending[size:]
                if frame[3] == 0x7:
                    codes.append(int.from_bytes(frame[13:17], "big"))
                else:
                    self.record(self.conn.receive_data(frame))
            try:
                self.flush()
            except OSError:
                pass
        return codes

    def call(self, path, body, content_type="application/grpc", extra=(), end_stream=True, te="trailers"):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, request_headers(path, content_type, extra, te), end_stream=end_stream and not body)
        if body:
            self.conn.send_data(sid, body, end_stream=end_stream)
        self.flush()
        return sid

    def finished(self, sid):
        s = self.stream(sid)
        return s["ended"] or s["reset"] is not None

    def answer(self, sid):
        """What the stream got: `status=N message=...` or `reset=CODE` or `http=N`."""
        s = self.stream(sid)
        if s["reset"] is not None and s["headers"] is None:
            return f"reset={s['reset']}"
        headers = s["headers"] or {}
        fields = dict(headers)
        fields.update(s["trailers"] or {})
        if headers.get(":status") not in (None, "200"):
            return f"http={headers.get(':status')}"
        if "grpc-status" in fields:
            extra = f" accept_encoding={fields['grpc-accept-encoding']}" if "grpc-accept-encoding" in fields else ""
            return f"status={fields['grpc-status']}{extra} message={fields.get('grpc-message', '')}"
        return "none"


HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def served(peer=None):
    """A health check answers on a fresh connection (or `peer`)."""
    p = peer or Peer()
    sid = p.call(HEALTH_CHECK, grpc_frame(b""))
    p.pump(lambda: p.finished(sid))
    return p.answer(sid).startswith("status=0")


def raw_exchange(payload: bytes):
    """Sends bytes, returns (got a GOAWAY frame, its error code, closed)."""
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
    sock.sendall(payload)
    received = b""
    closed = False
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not data:
            closed = True
            break
        received += data
    # Walk the frames the server sent looking for GOAWAY (type 7).
    offset, code = 0, None
    while offset + 9 <= len(received):
        length = int.from_bytes(received[offset:offset + 3], "big")
        ftype = received[offset + 3]
        if ftype == 7 and offset + 9 + 8 <= len(received):
            code = int.from_bytes(received[offset + 13:offset + 17], "big")
        offset += 9 + length
    return code, closed


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def main():
    result = {}
    if SCENARIO == "bad_preface":
        code, closed = raw_exchange(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + EMPTY_SETTINGS)
        result.update(goaway=code, closed=closed, served=served())
    elif SCENARIO == "garbage_frame":
        # A valid preface, then a SETTINGS frame on stream 1 (a connection error).
        code, closed = raw_exchange(PREFACE + EMPTY_SETTINGS + b"\x00\x00\x00\x04\x00\x00\x00\x00\x01")
        result.update(goaway=code, closed=closed, served=served())
    elif SCENARIO == "window_overflow":
        # Two WINDOW_UPDATEs of 2^31-1 on the connection overflow it (FLOW_CONTROL_ERROR).
        update = b"\x00\x00\x04\x08\x00\x00\x00\x00\x00" + struct.pack(">I", 0x7FFFFFFF)
        code, closed = raw_exchange(PREFACE + EMPTY_SETTINGS + update + update)
        result.update(goaway=code, closed=closed, served=served())
    elif SCENARIO == "unknown_frame":
        # An unknown frame type is ignored (RFC 9113 section 4.1); the connection serves on.
        p = Peer()
        p.sock.sendall(b"\x00\x00\x03\x42\x00\x00\x00\x00\x00abc")
        result.update(served=served(p))
    elif SCENARIO == "oversized":
        p = Peer()
        sid = p.call(HEALTH_CHECK, grpc_frame(b"x" * 16, length=1 << 20), end_stream=False)
        p.pump(lambda: p.finished(sid))
        result.update(answer=p.answer(sid), served=served(p))
    elif SCENARIO == "compressed":
        p = Peer()
        sid = p.call(HEALTH_CHECK, grpc_frame(b"", flag=1))
        p.pump(lambda: p.finished(sid))
        result.update(answer=p.answer(sid), served=served(p))
    elif SCENARIO == "truncated":
        p = Peer()
        sid = p.call(HEALTH_CHECK, grpc_frame(b"abc", length=10))
        p.pump(lambda: p.finished(sid))
        result.update(answer=p.answer(sid), served=served(p))
    elif SCENARIO == "content_type":
        p = Peer()
        sid = p.call(HEALTH_CHECK, grpc_frame(b""), content_type="text/plain")
        p.pump(lambda: p.finished(sid))
        result.update(answer=p.answer(sid), served=served(p))
    elif SCENARIO == "get":
        p = Peer()
        sid = p.conn.get_next_available_stream_id()
        p.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", HEALTH_CHECK), (":authority", "x")], end_stream=True)
        p.flush()
        p.pump(lambda: p.finished(sid))
        result.update(answer=p.answer(sid), served=served(p))
    elif SCENARIO == "bin_metadata":
        # A -bin header that is not base64 is INTERNAL; one that is goes through.
        p = Peer()
        bad = p.call(HEALTH_CHECK, grpc_frame(b""), extra=[("x-trace-bin", "!!!")])
        good = p.call(HEALTH_CHECK, grpc_frame(b""), extra=[("x-trace-bin", "AAEC")])
        p.pump(lambda: p.finished(bad) and p.finished(good))
        result.update(bad=p.answer(bad).split(" ")[0], good=p.answer(good).split(" ")[0])
    elif SCENARIO == "connect_reset":
        # Connect, take Welcome, then RST_STREAM(CANCEL): the session must end.
        p = Peer()
        sid = p.call("/chat.v1.ChatService/Connect", grpc_frame(b"\x0a\x05h2bob"), end_stream=True)
        p.pump(lambda: len(p.stream(sid)["data"]) > 5)
        result.update(welcomed=len(p.stream(sid)["data"]) > 5)
        p.conn.reset_stream(sid, error_code=8)
        p.flush()
        print("reset sent", flush=True)
        # Wait for the Swift side to check the registry, then prove the connection still serves.
        sys.stdin.readline()
        result.update(served=served(p))
    elif SCENARIO == "late_status":
        # A SignUp (scrypt) still running when a graceful shutdown's final
        # GOAWAY goes out must get its status before the connection closes.
        p = Peer()
        credentials = b"\x0a\x06h2late" + b"\x12\x10correct-horse-42"
        sid = p.call("/chat.v1.ChatService/SignUp", grpc_frame(credentials))
        # The server answers a ping after the frames sent before it: once the
        # ack is back, the call has reached its handler.
        p.conn.ping(b"latecall")
        p.flush()
        p.pump(lambda: p.ping_acks > 0)
        print("call started", flush=True)
        codes = p.read_through_goaways()
        result.update(answer=p.answer(sid), goaways=len(codes), closed=p.closed)
    elif SCENARIO == "too_many_streams":
        # The server under test allows 2 concurrent streams: a third Watch is refused.
        p = Peer()
        ids = [p.call(HEALTH_WATCH, grpc_frame(b"")) for _ in range(3)]
        p.pump(lambda: p.stream(ids[2])["reset"] is not None or p.stream(ids[2])["headers"] is not None)
        result.update(third=p.answer(ids[2]), goaway=p.goaway and p.goaway[0])
        for sid in ids[:2]:
            p.conn.reset_stream(sid, error_code=8)
        p.flush()
        result.update(served=served(p))
    elif SCENARIO == "rapid_reset":
        # Open and cancel 1,000 streams without reading: the server must say stop.
        import hpack
        encoder = hpack.Encoder()
        frames = [PREFACE, EMPTY_SETTINGS]
        for i in range(1000):
            sid = 2 * i + 1
            block = encoder.encode(request_headers(HEALTH_WATCH))
            frames.append(len(block).to_bytes(3, "big") + b"\x01\x04" + sid.to_bytes(4, "big") + block)
            frames.append(b"\x00\x00\x04\x03\x00" + sid.to_bytes(4, "big") + (8).to_bytes(4, "big"))
        code, closed = raw_exchange(b"".join(frames))
        result.update(goaway=code, closed=closed, served=served())
    elif SCENARIO == "huge_headers":
        # 40,000 bytes of headers against the advertised 16 KiB limit: HTTP 431
        # with grpc-status RESOURCE_EXHAUSTED, and the same connection serves on.
        p = Peer()
        sid = p.call(HEALTH_CHECK, grpc_frame(b""), extra=[("x-big", "a" * 40000)])
        p.pump(lambda: p.finished(sid) or p.goaway is not None)
        headers = p.stream(sid)["headers"] or {}
        result.update(
            answer=p.answer(sid), grpc_status=headers.get("grpc-status"),
            message=headers.get("grpc-message", "").replace(" ", "_"), goaway=p.goaway, served=served(p))
    elif SCENARIO == "te":
        # PROTOCOL-HTTP2.md requires `te: trailers`. Missing: a gRPC status;
        # another value: a malformed request (RFC 9113 section 8.2.2), RST_STREAM.
        p = Peer(validate=False)
        missing = p.call(HEALTH_CHECK, grpc_frame(b""), te=None)
        wrong = p.call(HEALTH_CHECK, grpc_frame(b""), te="gzip")
        p.pump(lambda: p.finished(missing) and p.finished(wrong))
        result.update(missing=p.answer(missing), wrong=p.answer(wrong), served=served(p))
    elif SCENARIO == "flow_control":
        # A bidi stream (reflection) whose client sends requests and never takes
        # the answers: the handler stalls on its writes and stops reading. The
        # server must not open the stream's window for bytes nobody consumed,
        # so the client stalls well short of TARGET; the connection's window
        # stays open, so another stream on the same connection is served.
        p = Peer()
        p.conn.increment_flow_control_window(1 << 30)  # our receive side: other streams' answers flow
        sid = p.conn.get_next_available_stream_id()
        p.conn.send_headers(sid, request_headers(REFLECTION), end_stream=False)
        p.flush()
        host = b"h" * 1000
        request = grpc_frame(bytes([1 << 3 | 2]) + bytes([0xE8, 0x07]) + host + b"\x3a\x01*")  # host, list_services "*"
        target = 2 << 20
        stream_bytes = request * (target // len(request) + 1)
        sent, granted, idle = 0, 0, 1.5
        while sent < target:
            window = min(p.conn.local_flow_control_window(sid), p.conn.max_outbound_frame_size, target - sent)
            if window > 0:
                p.conn.send_data(sid, stream_bytes[sent:sent + window])
                sent += window
                p.flush()
                continue
            # The window is spent: read (without acknowledging the answers) until
            # the server grants more on this stream, or grants nothing for `idle`.
            deadline = time.monotonic() + idle
            got = False
            while not got and time.monotonic() < deadline:
                p.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = p.sock.recv(65536)
                except socket.timeout:
                    break
                if not data:
                    break
                for event in p.conn.receive_data(data):
                    if isinstance(event, h2.events.WindowUpdated) and event.stream_id == sid:
                        granted += event.delta
                        got = True
                    elif isinstance(event, h2.events.StreamReset) and event.stream_id == sid:
                        result.update(reset=int(event.error_code))
                p.flush()
            if not got:
                break
        result.update(sent=sent, granted=granted, stalled=sent < target)
        result.update(served=served(p))
    else:
        print(f"unknown scenario {SCENARIO}", file=sys.stderr)
        sys.exit(2)
    print("result " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
