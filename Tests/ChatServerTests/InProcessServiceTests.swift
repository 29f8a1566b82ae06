import ChatAPI
import ChatCore
import ChatGRPC
import ChatTestSupport
import GRPCCore
import GRPCInProcessTransport
import InMemoryLogging
import Logging
import Testing

/// The chat service and its interceptors over grpc-swift's in-process
/// transport: no sockets, so the rules of the gRPC layer run fast and alone.
@Suite("gRPC service, in process")
struct InProcessServiceTests {
  /// A registry served in process, and a client of it, for `body`.
  private func withService<T: Sendable>(
    auth: AuthMode = .username, limits: RegistryLimits = { var l = RegistryLimits(); l.rateLimit = nil; return l }(),
    _ body: @Sendable (ChatRegistry, Chat_V1_ChatService.Client<InProcessTransport.Client>, InMemoryLogHandler) async throws -> T
  ) async throws -> T {
    let logs = InMemoryLogHandler()
    let logger = Logger(label: "in-process") { _ in logs }
    let registry = ChatRegistry(logger: logger, limits: limits)
    let transport = InProcessTransport()
    let server = ChatGRPCServer.make(
      transport: transport.server, registry: registry, logger: logger, auth: auth, maxRequestBytes: 8192)
    let client = GRPCClient(transport: transport.client)
    return try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await server.serve() }
      group.addTask { try await client.runConnections() }
      defer {
        registry.shutdown()
        server.beginGracefulShutdown()
        client.beginGracefulShutdown()
      }
      return try await body(registry, Chat_V1_ChatService.Client(wrapping: client), logs)
    }
  }

  @Test("Connect streams Welcome, then the session's events")
  func connectStreams() async throws {
    try await withService { registry, chat, _ in
      try await chat.connect(.with { $0.username = "alice" }) { response in
        var events = response.messages.makeAsyncIterator()
        let welcome = try #require(try await events.next())
        #expect(welcome.welcome.username == "alice")
        let caller = try registry.authenticate("alice", mode: .username, charge: false)
        try registry.createGroup("g", by: caller)
        #expect(try await events.next()?.memberJoined.group == "g")
        registry.shutdown()
        await #expect(throws: RPCError.self) { _ = try await events.next() }
      }
    }
  }

  @Test(
    "calls without a connected caller are UNAUTHENTICATED and logged with their code",
    arguments: [nil, "", "ghost", "Bearer ghost"] as [String?])
  func unauthenticated(authorization: String?) async throws {
    try await withService { _, chat, logs in
      let metadata: Metadata = authorization.map { ["authorization": .string($0)] } ?? [:]
      let error = await #expect(throws: RPCError.self) {
        _ = try await chat.listChannels(.init(), metadata: metadata)
      }
      #expect(error?.code == .unauthenticated)
      #expect(logs.entries.contains { $0.message.description == "rpc failed" && $0.metadata["code"] == "UNAUTHENTICATED" })
    }
  }

  @Test("past the rate limit a call is RESOURCE_EXHAUSTED with the time to wait in grpc-retry-pushback-ms")
  func rateLimited() async throws {
    var limits = RegistryLimits()
    limits.rateLimit = RateLimit(perSecond: 0.001, burst: 1)
    try await withService(limits: limits) { registry, chat, _ in
      _ = try registry.connect(ChatName("alice")!)
      let metadata: Metadata = ["authorization": "alice"]
      _ = try await chat.createGroupChat(.with { $0.group = "g1" }, metadata: metadata)
      let error = await #expect(throws: RPCError.self) {
        _ = try await chat.createGroupChat(.with { $0.group = "g2" }, metadata: metadata)
      }
      #expect(error?.code == .resourceExhausted)
      let pushback = error?.metadata[stringValues: "grpc-retry-pushback-ms"].first(where: { _ in true })
      #expect(pushback.flatMap { Int($0) }.map { $0 > 0 } == true)
    }
  }
}
