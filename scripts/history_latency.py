#!/usr/bin/env python3
"""Times History calls on a running chat server: pages of LIMIT events at the
newest end of a group and deep in it (a tenth of the way up from its oldest
retained event), ROUNDS of each, one call at a time. Signs in as the account
scripts/fill_store.py made (its name is in fill_store.py's output; the
password is "fill the store").

    scripts/history_latency.py HOST:PORT ACCOUNT GROUP [ROUNDS] [LIMIT]

Needs grpcio and grpcio-tools (pip); chat.proto is compiled at run time.
"""
import statistics, sys, time

import grpc

from chat_proto import chat_pb2, chat_pb2_grpc


def main():
    address, account, group = sys.argv[1], sys.argv[2], sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    limit = int(sys.argv[5]) if len(sys.argv) > 5 else 50
    with grpc.insecure_channel(address) as channel:
        chat = chat_pb2_grpc.ChatServiceStub(channel)
        token = chat.SignIn(chat_pb2.Credentials(username=account, password="fill the store")).token
        auth = (("authorization", "Bearer " + token),)
        where = chat_pb2.Channel(name=group, type=chat_pb2.CHANNEL_TYPE_GROUP)

        def history(**cursor):
            return chat.History(chat_pb2.HistoryRequest(channel=where, limit=limit, **cursor), metadata=auth)

        oldest = history(after_seq=1).events[0].seq
        newest = history().events[0].seq
        deep = oldest + (newest - oldest) // 10
        for name, cursor in (("newest", {}), ("deep", {"before_seq": deep})):
            history(**cursor)  # warm-up
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                page = history(**cursor)
                times.append((time.perf_counter() - started) * 1000)
            assert len(page.events) == limit and page.has_more
            times.sort()
            print(f"{name} page (before_seq={cursor.get('before_seq', 0)}, {limit} events; the group's retained "
                  f"seqs {oldest}..{newest}): median {statistics.median(times):.2f} ms, "
                  f"p90 {times[int(len(times) * 0.9)]:.2f} ms, max {times[-1]:.2f} ms over {rounds} calls")


main()
