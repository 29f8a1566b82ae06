#!/usr/bin/env python3
"""Fills a running chat server's log through its API: signs up an account,
creates GROUPS groups (the account stays a member, so they outlive the
script) and sends MESSAGES messages spread over them, IN_FLIGHT at a time.
Prints how many were accepted and how fast.

    scripts/fill_store.py HOST:PORT MESSAGES [GROUPS] [IN_FLIGHT]

Needs grpcio and grpcio-tools (pip); chat.proto is compiled at run time.
"""
import asyncio, sys, time, uuid

import grpc

from chat_proto import chat_pb2, chat_pb2_grpc


async def main():
    address, messages = sys.argv[1], int(sys.argv[2])
    groups = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    in_flight = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    async with grpc.aio.insecure_channel(address) as channel:
        chat = chat_pb2_grpc.ChatServiceStub(channel)
        name = "fill" + uuid.uuid4().hex[:8]
        token = (await chat.SignUp(chat_pb2.Credentials(username=name, password="fill the store"))).token
        auth = (("authorization", "Bearer " + token),)
        names = [f"{name}-{g}" for g in range(groups)]
        for group in names:
            await chat.CreateGroupChat(chat_pb2.GroupRequest(group=group), metadata=auth)
        queue = iter(range(messages))
        accepted = 0
        text = "x" * 64

        async def sender():
            nonlocal accepted
            for index in queue:
                request = chat_pb2.SendMessageRequest(
                    to=chat_pb2.Channel(name=names[index % groups], type=chat_pb2.CHANNEL_TYPE_GROUP), text=text)
                await chat.SendMessage(request, metadata=auth)
                accepted += 1

        started = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        seconds = time.monotonic() - started
        print(f"accepted {accepted} messages in {seconds:.1f} s ({accepted / seconds:.0f}/s) into {groups} groups as {name}")


asyncio.run(main())
