import ArgumentParser
import Foundation
import ChatAPI
import ChatClientCore
import GRPCCore
import GRPCNIOTransportHTTP2

/// `chat-client <username>`: connects, prints what happens, sends what is typed.
@main
struct ChatClientCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chat-client",
    abstract: "A terminal client for the chat server (chat.v1).",
    discussion: """
      Prints every event as it arrives and reads commands, one per line (/help \
      lists them). With a terminal it edits lines with readline; otherwise it \
      reads plain lines, so a file or a pipe can script a session, and echoes \
      each as '> line'. Exits 0 after /quit or the end of input, 1 when the \
      server refuses the user or ends the session (kicked, too slow, shutting \
      down) or the connection breaks.
      """
  )

  @Argument(help: "The name to connect as.")
  var username: String

  @Option(help: "The server, as host:port.")
  var server = "127.0.0.1:50051"

  @Option(help: "How calls prove who they are, as the server's --auth: 'username' or 'session' (the session id from Welcome).")
  var auth = CallAuthorization.username

  @Flag(help: "Connect over TLS, trusting the system's roots (implied by --tls-ca and --tls-insecure).")
  var tls = false

  @Option(help: "Connect over TLS, trusting this PEM CA certificate (e.g. a self-signed server's).")
  var tlsCA: String?

  @Flag(help: "Connect over TLS without verifying the server's certificate (test certificates only).")
  var tlsInsecure = false

  /// Plaintext unless a TLS option is given.
  var transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
    guard tls || tlsCA != nil || tlsInsecure else { return .plaintext }
    return .tls(
      .defaults { config in
        if let tlsCA { config.trustRoots = .certificates([.file(path: tlsCA, format: .pem)]) }
        if tlsInsecure { config.serverCertificateVerification = .noVerification }
      })
  }

  func validate() throws {
    guard ServerAddress(parsing: server) != nil else {
      throw ValidationError("--server '\(server)' is not host:port (IPv6 in brackets: [::1]:50051).")
    }
  }

  func run() async throws {
    let address = ServerAddress(parsing: server)!
    let console: any Console = ReadlineConsole.isAvailable ? ReadlineConsole() : PlainConsole()
    let formatter = EventFormatter()
    console.print(formatter.note("connecting to \(address) as \(username.terminalSafe)"))

    let transport = try HTTP2ClientTransport.Posix(
      target: target(address),
      transportSecurity: transportSecurity
    )
    let end = try await withGRPCClient(transport: transport) { client in
      await ChatSession(
        chat: Chat_V1_ChatService.Client(wrapping: client),
        username: username,
        authorization: auth,
        console: console,
        formatter: formatter
      ).run()
    }
    await console.stop()

    switch end {
    case .userQuit:
      return
    case .refused(let error):
      console.print(formatter.failure(error, prefix: "cannot connect"))
      throw ExitCode.failure
    case .streamEnded(let error):
      console.print(formatter.disconnected(error))
      throw ExitCode.failure
    }
  }
}

/// IP literals as IP targets: a DNS target would send an IP as the TLS
/// server name, which TLS forbids.
private func target(_ address: ServerAddress) -> any ResolvableTarget {
  var ipv4 = in_addr()
  var ipv6 = in6_addr()
  if inet_pton(AF_INET, address.host, &ipv4) == 1 { return .ipv4(address: address.host, port: address.port) }
  if inet_pton(AF_INET6, address.host, &ipv6) == 1 { return .ipv6(address: address.host, port: address.port) }
  return .dns(host: address.host, port: address.port)
}

extension CallAuthorization: ExpressibleByArgument {}
