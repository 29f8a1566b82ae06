#!/usr/bin/env python3
"""Presence and ListMembers against a running chat-server, with grpcio's own
client and message classes built from the server's reflection (no code
generated from chat.proto, nothing of ours).

Usage: chat_presence.py PORT   (the server runs with --presence-grace 0)

A guest `alice` creates `lounge`; the account `zoe` signs up, connects and
joins it, then its stream ends. Prints one line per observation:
`joined zoe`, `member NAME online=… account=… last_seen=…`, `presence zoe
online=False`, and `refused GROUP CODE` for ListMembers a caller may not make.
"""
import sys
import threading

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

SERVICE = "/chat.v1.ChatService/"


def say(line):
    print(line, flush=True)


def main():
    port = int(sys.argv[1])
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))

    def message(name):
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))

    ConnectRequest, Event = message("chat.v1.ConnectRequest"), message("chat.v1.Event")
    GroupRequest, Credentials = message("chat.v1.GroupRequest"), message("chat.v1.Credentials")
    AuthToken, ListMembersResponse = message("chat.v1.AuthToken"), message("chat.v1.ListMembersResponse")
    Empty = message("google.protobuf.Empty")

    def unary(on, method, response):
        return on.unary_unary(SERVICE + method, request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=response.FromString)

    def connect(on, request, metadata=()):
        call = on.unary_stream(SERVICE + "Connect", request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=Event.FromString)(request, metadata=metadata, timeout=30)
        first = next(call)
        assert first.WhichOneof("kind") == "welcome", first
        return call

    alice = connect(channel, ConnectRequest(username="alice"))
    as_alice = [("authorization", "alice")]
    unary(channel, "CreateGroupChat", Empty)(GroupRequest(group="lounge"), metadata=as_alice, timeout=10)
    assert next(alice).WhichOneof("kind") == "member_joined"

    token = unary(channel, "SignUp", AuthToken)(Credentials(username="zoe", password="correct horse"), timeout=30).token
    zoe_channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    as_zoe = [("authorization", f"Bearer {token}")]
    zoe = connect(zoe_channel, ConnectRequest(), as_zoe)
    unary(zoe_channel, "JoinGroupChat", Empty)(GroupRequest(group="lounge"), metadata=as_zoe, timeout=10)
    event = next(alice)
    say(f"joined {event.member_joined.username}")

    list_members = unary(channel, "ListMembers", ListMembersResponse)

    def show_members():
        for member in list_members(GroupRequest(group="LOUNGE"), metadata=as_alice, timeout=10).members:
            say(f"member {member.username} online={member.online} account={member.account} "
                f"last_seen={member.HasField('last_seen')}")

    show_members()
    zoe.cancel()
    event = next(alice)
    assert event.WhichOneof("kind") == "presence", event
    say(f"presence {event.presence.username} online={event.presence.online} seq={event.seq}")
    show_members()

    carol = connect(channel, ConnectRequest(username="carol"))  # held: a dropped call ends the stream
    for group in ["lounge", "nowhere", "no way"]:
        try:
            list_members(GroupRequest(group=group), metadata=[("authorization", "carol")], timeout=10)
            say(f"allowed {group}")
        except grpc.RpcError as error:
            say(f"refused {group} {error.code().name}")
    say("done")
    carol.cancel()
    threading.Thread(target=channel.close).start()


if __name__ == "__main__":
    main()
