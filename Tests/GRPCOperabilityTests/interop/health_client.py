#!/usr/bin/env python3
"""grpc.health.v1 against the server under test, with grpcio's own client
(grpcio-health-checking).

Usage: health_client.py PORT

Prints one line per answer. The Swift test reads them as they come and acts
on the Watch lines: on "watch chat.v1.ChatService SERVING" it sets the
service NOT_SERVING, on "... NOT_SERVING" it shuts the health service down,
which ends the stream.
"""
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT = 10  # seconds, for every call but the watch the test drives
WATCH_TIMEOUT = 30


def say(line):
    print(line, flush=True)


def status_name(response):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def main():
    port = int(sys.argv[1])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        for service in ["", "chat.v1.ChatService", "no.such.Service"]:
            label = service or "<server>"
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
                say(f"check {label} {status_name(response)}")
            except grpc.RpcError as error:
                say(f"check {label} {error.code().name}")

        # An unknown service is SERVICE_UNKNOWN, and the stream stays open.
        unknown = stub.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=TIMEOUT)
        say(f"watch no.such.Service {status_name(next(unknown))}")
        unknown.cancel()

        watch = stub.Watch(health_pb2.HealthCheckRequest(service="chat.v1.ChatService"), timeout=WATCH_TIMEOUT)
        try:
            for response in watch:
                say(f"watch chat.v1.ChatService {status_name(response)}")
            say("watch chat.v1.ChatService ended OK")
        except grpc.RpcError as error:
            say(f"watch chat.v1.ChatService ended {error.code().name}")


if __name__ == "__main__":
    main()
