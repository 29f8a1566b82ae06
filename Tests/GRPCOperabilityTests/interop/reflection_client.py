#!/usr/bin/env python3
"""gRPC server reflection against the server under test, with grpcio's own
client (grpcio-reflection's ProtoReflectionDescriptorDatabase, under a
protobuf DescriptorPool).

Usage: reflection_client.py PORT v1|v1alpha

Prints one line per answer for the Swift test to compare.
"""
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def say(line):
    print(line, flush=True)


class V1Stub:
    """grpcio-reflection ships only a v1alpha stub. v1's messages are v1alpha's
    renamed, the same on the wire, so the database's logic runs unchanged over
    the v1 method with v1alpha's message classes."""

    def __init__(self, channel):
        self.ServerReflectionInfo = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )


def main():
    port, version = int(sys.argv[1]), sys.argv[2]
    assert version in ("v1", "v1alpha"), version
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:

        # A fresh database (no cache) per question, so each one reaches the server.
        def database():
            db = ProtoReflectionDescriptorDatabase(channel)
            if version == "v1":
                db._stub = V1Stub(channel)
            return db

        def pool():
            return DescriptorPool(database())

        say("services " + ",".join(sorted(database().get_services())))

        for symbol in [
            "chat.v1.ChatService",
            "chat.v1.ChatService.SendMessage",
            "chat.v1.Event",
            "chat.v1.LeaveReason",
            "grpc.health.v1.HealthCheckResponse.ServingStatus",
            "grpc.reflection.v1alpha.ServerReflection",
            "no.such.Symbol",
        ]:
            try:
                say(f"symbol {symbol} {database().FindFileContainingSymbol(symbol).name}")
            except KeyError:
                say(f"symbol {symbol} NOT_FOUND")

        for name in ["chat.proto", "grpc/health/v1/health.proto", "no/such.proto"]:
            try:
                file = database().FindFileByName(name)
                say(f"file {name} package={file.package} imports={','.join(file.dependency)}")
            except KeyError:
                say(f"file {name} NOT_FOUND")

        # Building descriptors needs each file's imports, which come with it.
        service = pool().FindServiceByName("chat.v1.ChatService")
        say(f"service {service.full_name} methods=" + ",".join(m.name for m in service.methods))
        send = service.methods_by_name["SendMessage"]
        say(f"method {send.full_name} {send.input_type.full_name} -> {send.output_type.full_name}")
        event = pool().FindMessageTypeByName("chat.v1.Event")
        say(f"message {event.full_name} fields=" + ",".join(f.name for f in event.fields))
        say(f"field chat.v1.Event.time {event.fields_by_name['time'].message_type.full_name}")
        nested = pool().FindEnumTypeByName("grpc.health.v1.HealthCheckResponse.ServingStatus")
        say(f"enum {nested.full_name} values=" + ",".join(v.name for v in nested.values))

        say(f"extensions chat.v1.Event {list(database().FindAllExtensionNumbers('chat.v1.Event'))}")
        try:
            database().FindAllExtensionNumbers("no.such.Message")
            say("extensions no.such.Message found")
        except KeyError:
            say("extensions no.such.Message NOT_FOUND")


if __name__ == "__main__":
    main()
