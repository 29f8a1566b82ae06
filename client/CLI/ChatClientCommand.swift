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
      each as '> line'. When the connection breaks (UNAVAILABLE, a transport \
      error) it reconnects with backoff and resumes where it was. /signup and \
      /signin read the password from $CHAT_PASSWORD if set, else without echo \
      from the terminal, else from the next input line (never echoed). Exits 0 \
      after /quit, /signout or the end of input, 1 when the server refuses the \
      user or ends the session (kicked, too slow, signed out elsewhere).
      """
  )

  @Argument(help: "The name to connect as: a guest, or an account whose token this client keeps. Without it: the one account kept for this server, or not connected (then /signup or /signin).")
  var username: String?

  @Option(help: "Connect as this account, with the token kept from its last /signup or /signin.")
  var account: String?

  @Option(help: "Where account tokens are kept (default: $XDG_CONFIG_HOME or ~/.config, then chat-client/tokens).")
  var tokenDir: String?

  @Flag(help: "Exit when the connection breaks instead of reconnecting.")
  var noReconnect = false

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
    if let account, let username, account.lowercased() != username.lowercased() {
      throw ValidationError("give either a name or --account, not two different names.")
    }
    if let account, !NameRule.isValid(account) {
      throw ValidationError(NameRule.invalid(account, kind: .user).message)
    }
  }

  /// Who to connect as: a kept token (named by --account or the argument, or the only one kept
  /// for this server), else a guest by the argument's name, else nobody yet.
  private func identity(tokens: TokenStore, console: any Console, formatter: EventFormatter) throws -> SessionState.Identity {
    func usable(_ token: AccountToken) -> AccountToken? {
      guard token.hasExpired() else { return token }
      console.print(formatter.note("the kept token of \(token.username.terminalSafe) has expired; /signin \(token.username.terminalSafe)"))
      try? tokens.delete(token.username)
      return nil
    }
    if let account {
      guard let token = try tokens.load(account) else {
        throw CommandError("no token kept for '\(account)' in \(tokens.directory.path): start chat-client without --account and /signin \(account)")
      }
      return usable(token).map { .account($0) } ?? .none
    }
    if let username {
      if let token = try tokens.load(username) { return usable(token).map { .account($0) } ?? .none }
      return .guest(username)
    }
    let kept = tokens.usernames()
    guard kept.count <= 1 else {
      throw CommandError("tokens are kept for several accounts on this server (\(kept.joined(separator: ", "))): choose one with --account <name>")
    }
    if let name = kept.first, let token = try tokens.load(name) { return usable(token).map { .account($0) } ?? .none }
    return .none
  }

  func run() async throws {
    let address = ServerAddress(parsing: server)!
    let console: any Console = ReadlineConsole.isAvailable ? ReadlineConsole() : PlainConsole()
    let formatter = EventFormatter()
    let tokens = TokenStore(
      root: tokenDir.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? TokenStore.defaultRoot(), server: address)
    let identity: SessionState.Identity
    do {
      identity = try self.identity(tokens: tokens, console: console, formatter: formatter)
    } catch {
      console.print(formatter.failure(error))
      throw ExitCode.failure
    }
    switch identity {
    case .none:
      console.print(formatter.note("not connected to \(address): /signup <name> or /signin <name> (or start chat-client with a name to join as a guest)"))
    case .guest(let name):
      console.print(formatter.note("connecting to \(address) as \(name.terminalSafe)"))
    case .account(let token):
      console.print(formatter.note("connecting to \(address) as \(token.username.terminalSafe) (account)"))
    }

    let transport = try HTTP2ClientTransport.Posix(
      target: target(address),
      transportSecurity: transportSecurity
    )
    let end = try await withGRPCClient(transport: transport) { client in
      await ChatSession(
        chat: Chat_V1_ChatService.Client(wrapping: client),
        state: SessionState(identity: identity, guestAuthorization: auth),
        tokens: tokens,
        console: console,
        formatter: formatter,
        backoff: noReconnect ? nil : ReconnectBackoff()
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
