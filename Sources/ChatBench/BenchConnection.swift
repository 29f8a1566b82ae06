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
