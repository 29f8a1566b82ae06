import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

@testable import GRPCOperability

/// The health service through grpc-swift's client (the generated one), for
/// what the Python client cannot show.
@Suite struct HealthClientTests {
  @Test func listAnswersEveryStatus() async throws {
    try await OperabilityServer.with { server in
      server.health.setStatus(.serving, forService: "")
      server.health.setStatus(.notServing, forService: "chat.v1.ChatService")
      let statuses = try await withHealthClient(server.port) { health in
        try await health.list(.init()).statuses.mapValues(\.status)
      }
      #expect(statuses == ["": .serving, "chat.v1.ChatService": .notServing])
    }
  }

  /// gRPC signals a call's end through its RPC cancellation handle, not by
  /// cancelling the handler's task: the Watch must notice and unregister.
  @Test func aWatchEndsWhenItsClientGoesAway() async throws {
    try await OperabilityServer.with { server in
      server.health.setStatus(.serving, forService: "")
      let first = try await withHealthClient(server.port) { health in
        try await health.watch(.with { $0.service = "" }) { response in
          var messages = response.messages.makeAsyncIterator()
          let first = try await messages.next()?.status
          #expect(server.health.table.watcherCount == 1)
          return first  // leaving the handler resets the stream
        }
      }
      #expect(first == .serving)
      let table = server.health.table
      try await waitUntil(5, "the server to drop the watch") { table.watcherCount == 0 }
    }
  }

  private func withHealthClient<T: Sendable>(
    _ port: Int, _ body: @escaping @Sendable (Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    try await withTimeout(10, "the health call") {
      try await withGRPCClient(
        transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
      ) { client in
        try await body(Grpc_Health_V1_Health.Client(wrapping: client))
      }
    }
  }
}
