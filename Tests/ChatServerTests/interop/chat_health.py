#!/usr/bin/env python3
"""grpc.health.v1 against a running chat-server, with grpcio's own client.

Usage: chat_health.py PORT

Prints the server's and the chat service's status, then watches the server's
status and prints every change until the server ends the watch.
"""
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def say(line):
    print(line, flush=True)


def main():
    port = int(sys.argv[1])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        name = health_pb2.HealthCheckResponse.ServingStatus.Name
        for service in ["", "chat.v1.ChatService"]:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            say(f"check {service or '<server>'} {name(response.status)}")
        try:
            for response in stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30):
                say(f"watch {name(response.status)}")
            say("watch ended")
        except grpc.RpcError as error:
            say(f"watch ended {error.code().name}")


if __name__ == "__main__":
    main()
