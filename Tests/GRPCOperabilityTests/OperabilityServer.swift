import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCOperability

/// A real server on 127.0.0.1 and a free port, serving health and reflection
/// (reflection over the chat server's descriptor set, chat.proto included).
final class OperabilityServer: Sendable {
  let health = HealthService()
  let port: Int
  private let server: GRPCServer<HTTP2ServerTransport.Posix>
  private let serving: Task<Void, any Error>

  init() async throws {
    let transport = HTTP2ServerTransport.Posix(
      address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
    let reflection = try ReflectionService(fileDescriptorSet: ChatDescriptorSet.serialized)
    let server = GRPCServer(transport: transport, services: [health, reflection])
    self.server = server
    serving = Task { try await server.serve() }
    port = try await withTimeout(10, "the server to listen") {
      guard let ipv4 = try await transport.listeningAddress.ipv4 else { throw TimedOut(what: "an IPv4 address") }
      return ipv4.port
    }
  }

  /// Marks everything NOT_SERVING (ending Watch streams), then shuts the
  /// server down gracefully and waits for it: an open Watch left behind
  /// would make this time out.
  func stop() async throws {
    health.shutDown()
    server.beginGracefulShutdown()
    try await withTimeout(10, "the server to stop") { [serving] in try await serving.value }
  }

  /// Runs `body` against a fresh server, stopping it after.
  static func with<T: Sendable>(_ body: (OperabilityServer) async throws -> T) async throws -> T {
    let server = try await OperabilityServer()
    do {
      let result = try await body(server)
      try await server.stop()
      return result
    } catch {
      try? await server.stop()
      throw error
    }
  }
}
