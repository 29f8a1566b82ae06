import ChatTestSupport
import ChatAPI
import ChatCore
import ChatServer
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOHTTP2
import Testing

/// Keepalive, both ways: the server finds peers that vanished, and refuses
/// peers that ping too often.
@Suite("Dead peers and keepalive", .serialized)
struct DeadPeerTests {
  @Test("a client that vanishes without a FIN is disconnected by keepalive, and its group sees MemberLeft DISCONNECTED", arguments: ServerTransportKind.allCases)
  func frozenClient(transport: ServerTransportKind) async throws {
    let server = try await TestServer {
      $0.transport = transport
      // The timeout applies to every peer, and this test's own users share
      // the process with the whole suite: on a loaded 2-core host a live
      // client's ping ack has come back more than 2 s late (CI, --transport
      // nio: alice's stream closed by keepalive). 10 s is a stall no live
      // peer here reaches; a vanished one is still found within 12 s.
      $0.keepaliveInterval = .seconds(2)
      $0.keepaliveTimeout = .seconds(10)
    }
    let proxy = try await FreezableProxy(to: server.port)
    let alice = try await server.user("alice")
    let bob = try await TestUser.connect("bob", port: proxy.port)
    try await alice.create("room")
    _ = try await alice.next()
    try await bob.join("room")
    #expect(try await alice.next().memberJoined.username == "bob")

    proxy.freeze()
    // The bound is interval + timeout (12 s); the rest is margin for a loaded machine.
    let left = try await alice.next(40)
    #expect(left.memberLeft == .with { $0.group = "room"; $0.username = "bob"; $0.reason = .disconnected })
    #expect(try await alice.list().map(\.name) == ["alice", "room"])
    #expect(server.logs.entries.contains { $0.metadata["user"] == "bob" && $0.metadata["reason"] == "disconnected" })

    bob.close()
    alice.close()
    await proxy.stop()
    try await server.stop()
  }

  @Test("a grpc-swift client that pings every 300 ms during its Connect stream is cut off, and its group sees it leave", arguments: ServerTransportKind.allCases)
  func grpcClientPingingTooOften(transport: ServerTransportKind) async throws {
    let server = try await TestServer { $0.transport = transport }
    let alice = try await server.user("alice")
    try await alice.create("room")
    _ = try await alice.next()

    var config = HTTP2ClientTransport.Posix.Config.defaults
    config.connection.keepalive = .init(time: .milliseconds(300), timeout: .seconds(5), allowWithoutCalls: true)
    let pinger = try await TestUser.connect("pinger", port: server.port, config: config)
    try await pinger.join("room")
    #expect(try await alice.next().memberJoined.username == "pinger")

    // The policy allows one ping per 10 s while a call is open, and two strikes:
    // the fourth ping with no HEADERS or DATA from the server in between closes
    // the connection (each server write forgives the strikes, hence 300 ms: long
    // enough for the join above to come back before the fourth ping).
    let end = await pinger.streamEnd()
    #expect(end?.code == .unavailable)
    let left = try await alice.next()
    #expect(left.memberLeft == .with { $0.group = "room"; $0.username = "pinger"; $0.reason = .disconnected })

    // The server goes on serving everyone else.
    try await alice.send("still here", to: "room", .group)
    #expect(try await alice.next().message.text == "still here")
    pinger.close()
    alice.close()
    try await server.stop()
  }

  @Test("pings too frequent for the policy are answered with GOAWAY ENHANCE_YOUR_CALM, then the connection closes", arguments: ServerTransportKind.allCases)
  func pingsTooOften(transport: ServerTransportKind) async throws {
    let server = try await TestServer { $0.transport = transport }
    let connection = try await RawHTTP2Connection.connect(port: server.port)
    // Ping again as soon as each ack arrives, until the server says stop.
    let verdict: (HTTP2ErrorCode, String, acked: Int)? = try await withTimeout(5, "GOAWAY") {
      var acked = 0
      try await connection.ping()
      for await frame in connection.rootFrames {
        switch frame {
        case .pingAck:
          acked += 1
          if acked == 10 { return nil }
          try? await connection.ping()
        case .goAway(let code, let debugData):
          return (code, debugData, acked)
        }
      }
      return nil
    }
    #expect(verdict?.0 == .enhanceYourCalm)
    #expect(verdict?.1 == "too_many_pings")
    // With no call open, the first ping is fine and each later one a strike;
    // two strikes are forgiven (gRFC A8): the fourth ping is acked, then refused.
    #expect(verdict?.acked == 4)
    try await connection.closed()

    let alice = try await server.user("alice")
    #expect(try await alice.list().map(\.name) == ["alice"])
    alice.close()
    try await server.stop()
  }
}
