import ChatAPI
import ChatTestSupport
import Foundation
import GRPCCore
import NIOCore
import SwiftProtobuf
import Testing

@testable import ChatCore
@testable import ChatServer

/// Ended means ended: a session the server ends gives up its stream within
/// a bound, whether or not its client reads.
@Suite("Sessions the server ends", .serialized)
struct SessionEndTests {
  /// Connects `name` over a raw HTTP/2 stream that is never read, then
  /// fills its flow-control window and the server's buffers with events.
  private func silentSession(_ name: String, on server: TestServer) async throws -> (
    connection: RawHTTP2Connection, closed: EventLoopFuture<Void>
  ) {
    let connection = try await RawHTTP2Connection.connect(port: server.port)
    let request = try Chat_V1_ConnectRequest.with { $0.username = name }.serializedBytes() as [UInt8]
    let closed = try await connection.openUnread("/chat.v1.ChatService/Connect", body: grpcFrame(request))
    try await eventually("\(name) to be connected") { server.registry.userNames().contains(name) }
    let sender = try server.registry.connect(ChatName(name + "-sender")!)
    // 300 KiB: far past the 64 KiB window and the stream's write buffer,
    // well under the queue limit.
    let text = String(repeating: "x", count: 1024)
    for _ in 0..<300 { try server.registry.send(text, to: .user, named: name, from: sender.caller) }
    return (connection, closed)
  }

  @Test(
    "a kicked or shut-down session whose client does not read is reset within the grace",
    arguments: ServerTransportKind.allCases, ["kick", "shutdown"])
  func silentClientIsReset(transport: ServerTransportKind, how: String) async throws {
    let server = try await TestServer { $0.transport = transport; $0.endGrace = .milliseconds(300) }
    let (connection, closed) = try await silentSession("mute", on: server)
    if how == "kick" {
      _ = try server.registry.kick("mute", reason: "test")
    } else {
      server.registry.shutdown()
    }
    try await closedWithin(5, closed, "the silent stream to be reset")
    #expect(server.registry.userNames() == (how == "kick" ? ["mute-sender"] : []))
    await connection.close()
    try await server.stop()
  }

  @Test("a silent client that reconnects after each kick leaves no stream behind", arguments: ServerTransportKind.allCases)
  func reconnectingSilentClient(transport: ServerTransportKind) async throws {
    let server = try await TestServer { $0.transport = transport; $0.endGrace = .milliseconds(200) }
    var connections: [RawHTTP2Connection] = []
    for round in 0..<3 {
      let (connection, closed) = try await silentSession("mute\(round)", on: server)
      connections.append(connection)
      _ = try server.registry.kick("mute\(round)", reason: "round \(round)")
      try await closedWithin(5, closed, "round \(round)'s stream to be reset")
    }
    for connection in connections { await connection.close() }
    try await server.stop()
  }
}

/// Waits for `future`, failing after `seconds` (a future's `get()` cannot be cancelled).
func closedWithin(_ seconds: Double, _ future: EventLoopFuture<Void>, _ what: String) async throws {
  let (completed, continuation) = AsyncStream<Void>.makeStream()
  future.whenComplete { _ in
    continuation.yield()
    continuation.finish()
  }
  try await withTimeout(seconds, what) {
    for await _ in completed { return }
  }
}
