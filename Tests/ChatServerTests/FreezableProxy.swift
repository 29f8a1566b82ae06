import ChatTestSupport
import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on 127.0.0.1 to a local port that can freeze: from then on it
/// drops every byte in both directions and keeps every socket open, as a peer
/// that vanished without a FIN (pulled cable, suspended laptop) looks to the
/// server.
final class FreezableProxy: Sendable {
  let port: Int
  private let frozen: FreezeSwitch
  private let task: Task<Void, any Error>

  init(to targetPort: Int) async throws {
    let frozen = FreezeSwitch()
    let listener = try await ServerBootstrap(group: .singletonMultiThreadedEventLoopGroup)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .bind(host: "127.0.0.1", port: 0) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    port = listener.channel.localAddress?.port ?? 0
    self.frozen = frozen
    task = Task {
      try await listener.executeThenClose { clients in
        try await withThrowingDiscardingTaskGroup { group in
          for try await client in clients {
            group.addTask { try? await Self.relay(client, to: targetPort, frozen: frozen) }
          }
        }
      }
    }
  }

  /// Stops forwarding, for good, without closing anything.
  func freeze() {
    frozen.freeze()
  }

  /// Closes the listener and every relayed connection.
  func stop() async {
    task.cancel()
    _ = try? await withTimeout(5, "the proxy to stop") { [task] in try? await task.value }
  }

  private static func relay(
    _ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, to targetPort: Int, frozen: FreezeSwitch
  ) async throws {
    let server = try await ClientBootstrap(group: .singletonMultiThreadedEventLoopGroup)
      .connect(host: "127.0.0.1", port: targetPort) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    try await client.executeThenClose { fromClient, toClient in
      try await server.executeThenClose { fromServer, toServer in
        try await withThrowingTaskGroup { group in
          group.addTask { try await forward(fromClient, to: toServer, frozen: frozen) }
          group.addTask { try await forward(fromServer, to: toClient, frozen: frozen) }
          // One side closed (or the proxy stopped): close the other, unless
          // frozen, when nothing may be passed on, not even a close.
          defer { group.cancelAll() }
          _ = try await group.next()
          if frozen.isFrozen { await waitUntilCancelled() }
        }
      }
    }
  }

  private static func forward(
    _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
    frozen: FreezeSwitch
  ) async throws {
    for try await buffer in inbound where !frozen.isFrozen {
      try await outbound.write(buffer)
    }
  }
}

/// Whether a `FreezableProxy` has frozen.
private final class FreezeSwitch: Sendable {
  private let frozen = Atomic(false)

  var isFrozen: Bool { frozen.load(ordering: .acquiring) }

  func freeze() {
    frozen.store(true, ordering: .releasing)
  }
}

/// Returns once the current task is cancelled.
private func waitUntilCancelled() async {
  let (never, continuation) = AsyncStream.makeStream(of: Never.self)
  await withTaskCancellationHandler {
    for await _ in never {}
  } onCancel: {
    continuation.finish()
  }
}
