"""A grpcio (C-core) client holds a Connect stream through a fixed-rate flood.

Usage: grpcio_flood.py PORT RATE SECONDS. With grpcio's default settings (BDP
pings on), `member` joins group `flood`, `sender` sends RATE messages a second
for SECONDS to it; prints `result received=N sent=N ended=...` once the member
has every message or its stream ended. Protobuf bytes are written by hand,
so the script needs grpcio alone.
"""

import sys
import threading
import time

import grpc

PORT, RATE, SECONDS = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
IDENTITY = (lambda b: b, lambda b: b)


def string_field(number: int, value: str) -> bytes:
    data = value.encode()
    return bytes([number << 3 | 2, len(data)]) + data


def send_request(group: str, text: str) -> bytes:
    channel = string_field(1, group) + bytes([2 << 3, 2])  # CHANNEL_TYPE_GROUP
    return bytes([1 << 3 | 2, len(channel)]) + channel + string_field(2, text)


def main():
    member_channel = grpc.insecure_channel(f"127.0.0.1:{PORT}")
    sender_channel = grpc.insecure_channel(f"127.0.0.1:{PORT}")
    connect = member_channel.unary_stream("/chat.v1.ChatService/Connect", *IDENTITY)
    connect_sender = sender_channel.unary_stream("/chat.v1.ChatService/Connect", *IDENTITY)
    unary = sender_channel.unary_unary
    events = connect(string_field(1, "member"))
    next(events)  # Welcome
    sender_events = connect_sender(string_field(1, "sender"))
    next(sender_events)
    unary("/chat.v1.ChatService/CreateGroupChat", *IDENTITY)(string_field(1, "flood"), metadata=[("authorization", "sender")])
    member_channel.unary_unary("/chat.v1.ChatService/JoinGroupChat", *IDENTITY)(
        string_field(1, "flood"), metadata=[("authorization", "member")])

    total = int(RATE * SECONDS)
    received = {"messages": 0, "ended": "no"}
    done = threading.Event()

    def read():
        try:
            for event in events:
                # Event: time (field 1), then the kind; Message is field 3.
                kind = event[2 + event[1]:][:1] if event[:1] == b"\x0a" else event[:1]
                if kind == bytes([3 << 3 | 2]):
                    received["messages"] += 1
                    if received["messages"] >= total:
                        break
        except grpc.RpcError as error:
            received["ended"] = f"{error.code().name}:{error.details()}"
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    send = unary("/chat.v1.ChatService/SendMessage", *IDENTITY)
    start = time.monotonic()
    for i in range(total):
        delay = start + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        send(send_request("flood", f"m-{i}"), metadata=[("authorization", "sender")])
    done.wait(timeout=20)
    print(f"result received={received['messages']} sent={total} ended={received['ended']}", flush=True)


if __name__ == "__main__":
    main()
