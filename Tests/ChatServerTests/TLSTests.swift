import ChatTestSupport
import ChatAPI
import ChatCore
import ChatServer
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// The server over TLS, with a CA and certificate made for each test.
@Suite("TLS", .serialized)
struct TLSTests {
  static func trusting(_ caPath: String) -> HTTP2ClientTransport.Posix.TransportSecurity {
    .tls { $0.trustRoots = .certificates([.file(path: caPath, format: .pem)]) }
  }

  @Test("a client that trusts the server's CA is served over TLS", arguments: ServerTransportKind.allCases)
  func trustedClient(transport: ServerTransportKind) async throws {
    let certificates = try TestCertificates()
    defer { certificates.remove() }
    let server = try await TestServer {
      $0.transport = transport
      $0.tls = TLSFiles(certificateChain: certificates.certificateChainPath, privateKey: certificates.privateKeyPath)
    }
    let security = Self.trusting(certificates.caPath)
    let alice = try await TestUser.connect("alice", port: server.port, security: security)
    let bob = try await TestUser.connect("bob", port: server.port, security: security)
    #expect(try await alice.list().map(\.name) == ["alice", "bob"])
    try await alice.send("over TLS", to: "bob", .user)
    #expect(try await bob.next().message.text == "over TLS")
    alice.close()
    bob.close()
    try await server.stop()
  }

  @Test("a plaintext client and a client that does not trust the certificate fail with UNAVAILABLE, and TLS clients are served after", arguments: ServerTransportKind.allCases)
  func untrustedClients(transport: ServerTransportKind) async throws {
    let certificates = try TestCertificates()
    let otherCA = try TestCertificates()
    defer {
      certificates.remove()
      otherCA.remove()
    }
    let server = try await TestServer {
      $0.transport = transport
      $0.tls = TLSFiles(certificateChain: certificates.certificateChainPath, privateKey: certificates.privateKeyPath)
    }
    let plaintext = try await TestUser.failingConnect("eve", port: server.port, security: .plaintext)
    #expect(plaintext?.code == .unavailable, "\(String(describing: plaintext))")
    let untrusted = try await TestUser.failingConnect("mallory", port: server.port, security: Self.trusting(otherCA.caPath))
    #expect(untrusted?.code == .unavailable, "\(String(describing: untrusted))")

    let alice = try await TestUser.connect("alice", port: server.port, security: Self.trusting(certificates.caPath))
    #expect(try await alice.list().map(\.name) == ["alice"])
    alice.close()
    try await server.stop()
  }
}
