import ChatAPI
import ChatCore
import ChatServer
import ChatTestSupport
import GRPCCore
import InMemoryLogging
import Logging
import Testing

/// What the log says, and what it must never say.
@Suite("Log hygiene")
struct LogHygieneTests {
  /// Every line's message and metadata, as an operator would read them.
  private func lines(_ logs: InMemoryLogHandler) -> [String] {
    logs.entries.map { entry in
      ([entry.message.description] + entry.metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
    }
  }

  @Test("no session token reaches the log at any level, whatever the calls do")
  func noCredentials() async throws {
    let server = try await TestServer(logLevel: .trace) { $0.auth = .session }
    let (alice, welcome) = try await TestUser.connectWelcomed("alice", port: server.port)
    let (bob, bobWelcome) = try await TestUser.connectWelcomed("bob", port: server.port)
    let asAlice: Metadata = ["authorization": .string("Bearer \(welcome.sessionID)")]
    _ = try await alice.chat.createGroupChat(.with { $0.group = "g" }, metadata: asAlice)
    // A failing call with a valid token, and calls with near-miss tokens.
    _ = await rpcError { _ = try await alice.chat.createGroupChat(.with { $0.group = "g" }, metadata: asAlice) }
    for forged in [String(welcome.sessionID.dropLast()), welcome.sessionID + "0", bobWelcome.sessionID.uppercased()] {
      _ = await rpcError {
        _ = try await bob.chat.listChannels(.init(), metadata: ["authorization": .string("Bearer \(forged)")])
      }
    }
    _ = try server.registry.kick("bob", reason: "test")
    _ = await bob.streamEnd()
    alice.close()
    try await server.stop()
    let log = lines(server.logs)
    #expect(log.contains { $0.hasPrefix("user connected") })
    #expect(log.contains { $0.hasPrefix("rpc failed") })
    for token in [welcome.sessionID, bobWelcome.sessionID] {
      let leaks = log.filter { $0.lowercased().contains(token.prefix(12).lowercased()) }
      #expect(leaks.isEmpty, "token in the log: \(leaks)")
    }
  }

  @Test("status codes are logged as gRPC names them, peers as host:port")
  func codesAndPeers() async throws {
    let server = try await TestServer()
    let alice = try await server.user("alice")
    try await alice.create("g")
    _ = await rpcError { try await alice.create("g") }
    _ = await rpcError { _ = try await TestUser.connect("alice", port: server.port) }
    let failed = server.logs.entries.filter { $0.message.description == "rpc failed" }
    #expect(failed.map { $0.metadata["code"].map { "\($0)" } } == ["ALREADY_EXISTS", "ALREADY_EXISTS"])
    let peers = server.logs.entries.compactMap { $0.metadata["peer"].map { "\($0)" } }
    #expect(!peers.isEmpty)
    #expect(peers.allSatisfy { $0.wholeMatch(of: /127\.0\.0\.1:\d+/) != nil }, "\(peers)")
    alice.close()
    try await server.stop()
  }
}
