import ChatAPI
import GRPCCore
import GRPCNIOTransportHTTP2

/// One HTTP/2 connection to the server: a `GRPCClient` that every session
/// placed on it shares, for its Connect stream and its unary calls.
final class BenchConnection: Sendable {
  let client: GRPCClient<HTTP2ClientTransport.Posix>
  let chat: Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>

  init(target: BenchTarget) throws {
    client = GRPCClient(
      transport: try .http2NIOPosix(
        target: .ipv4(address: target.host, port: target.port), transportSecurity: Self.security(target.tls)))
    chat = Chat_V1_ChatService.Client(wrapping: client)
  }

  private static func security(_ tls: BenchTLS?) -> HTTP2ClientTransport.Posix.TransportSecurity {
    switch tls {
    case nil:
      .plaintext
    case .trusting(let caPath):
      .tls(.defaults { $0.trustRoots = .certificates([.file(path: caPath, format: .pem)]) })
    case .insecure:
      .tls(.defaults { $0.serverCertificateVerification = .noVerification })
    }
  }
}

/// Runs `body` with `count` connections open, then closes them gracefully
/// (cancelling them if that takes longer than `closeTimeout`).
func withConnections<Result: Sendable>(
  _ count: Int, to target: BenchTarget, closeTimeout: Duration = .seconds(10),
  _ body: ([BenchConnection]) async throws -> Result
) async throws -> Result {
  let connections = try (0..<count).map { _ in try BenchConnection(target: target) }
  return try await withThrowingTaskGroup(of: Void.self) { runners in
    for connection in connections {
      runners.addTask { try? await connection.client.runConnections() }
    }
    let result: Result
    do {
      result = try await body(connections)
    } catch {
      runners.cancelAll()
      throw error
    }
    for connection in connections { connection.client.beginGracefulShutdown() }
    runners.addTask {
      try await Task.sleep(for: closeTimeout)
      throw CancellationError()
    }
    // The first to finish is either the last connection or the timer.
    var open = connections.count
    while open > 0 {
      do {
        try await runners.next()
        open -= 1
      } catch {
        break
      }
    }
    runners.cancelAll()
    return result
  }
}
