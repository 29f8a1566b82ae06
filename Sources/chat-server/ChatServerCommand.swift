import ArgumentParser
import ChatAuth
import ChatConsole
import ChatCore
import ChatGRPC
import ChatServer
import ChatStore
import Foundation
import Logging

/// The entry point is synchronous: `--tasks-on-event-loops` must be set up on
/// the main thread before any task runs, so the server starts in a task
/// after that and the main thread then waits in `dispatchMain()`.
@main
enum ChatServerMain {
  static func main() {
    let command = ChatServerCommand.parseOrExit()
    if command.tasksOnEventLoops {
      do throws(TasksOnEventLoops.Failure) {
        try TasksOnEventLoops.install()
      } catch {
        ChatServerCommand.exit(withError: ValidationError(error.description))
      }
    }
    Task {
      let status = await command.serve()
      exit(status)
    }
    dispatchMain()
  }
}

/// `chat-server`: validates its options and hands them to `ChatApplication`.
struct ChatServerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chat-server",
    abstract: "A gRPC chat server (chat.v1): users, direct messages and group chats, all in memory."
  )

  @Option(help: "The address to listen on.")
  var host = "127.0.0.1"

  @Option(help: "The port to listen on; 0 picks a free port.")
  var port = 50051

  @Option(help: "The lowest level logged: trace, debug, info, notice, warning, error or critical.")
  var logLevel: Logger.Level = .info

  @Option(help: "Also append the log to this file (created readable by its owner only).")
  var logFile: String?

  @Option(help: "Refuse Connect past this many sessions (RESOURCE_EXHAUSTED).")
  var maxSessions = RegistryLimits().maxSessions

  @Option(help: "Refuse CreateGroupChat past this many groups (RESOURCE_EXHAUSTED).")
  var maxGroups = RegistryLimits().maxGroups

  @Option(help: "Refuse creating or joining past this many groups per user (RESOURCE_EXHAUSTED).")
  var maxGroupsPerUser = RegistryLimits().maxGroupsPerUser

  @Option(
    help: ArgumentHelp(
      "Per-user token bucket over SendMessage, CreateGroupChat, JoinGroupChat and LeaveGroupChat: RATE/BURST, or off.",
      valueName: "rate/burst"))
  var rateLimit = "20/50"

  @Option(help: "End a session whose unsent events pass this many bytes (a slow consumer).")
  var maxQueueBytes = RegistryLimits().maxQueueBytes

  @Option(help: "The HTTP/2 concurrent-stream cap per connection.")
  var maxStreamsPerConnection = ChatServerConfiguration().maxStreamsPerConnection

  @Option(help: "Seconds of silence on a connection before the server pings it.")
  var keepaliveInterval = 30.0

  @Option(help: "Seconds the server waits for a ping's answer before closing the connection.")
  var keepaliveTimeout = 10.0

  @Option(
    help: ArgumentHelp(
      "How calls prove who they are: 'username' (authorization: <username>) or 'session' (authorization: Bearer <session_id from Welcome>).",
      valueName: "mode"))
  var auth: AuthMode = .username

  @Option(help: "Serve over TLS with this PEM certificate chain (needs --tls-key).")
  var tlsCert: String?

  @Option(help: "The PEM private key of --tls-cert.")
  var tlsKey: String?

  @Option(help: "The HTTP/2 implementation: nghttp2 (libnghttp2) or nio (grpc-swift-nio-transport).")
  var transport: ServerTransportKind = ChatServerConfiguration().transport

  @Flag(help: "Run without the operator console on stdin.")
  var noConsole = false

  @Flag(
    help: ArgumentHelp(
      "Run Swift concurrency's tasks on the server's event loops instead of Swift's thread pool.",
      discussion: """
        Cheaper when senders flood large groups (about 3× less server CPU per \
        delivery), dearer at moderate fixed rates (about 15% more): see BENCHMARKS.md.
        """))
  var tasksOnEventLoops = false

  @Option(help: "Where the console keeps its history (default ~/.chat_server_history; created readable by its owner only).")
  var historyFile: String?

  @Option(help: "Where accounts, groups and the message log are kept: sqlite (in --data-dir, survives restarts) or memory.")
  var store: StoreKind = .sqlite

  @Option(help: "The directory of the SQLite store (created readable by its owner only; locked while in use).")
  var dataDir = "./chat-data"

  @Option(help: "Messages kept per channel (group or pair of users), with their member events.")
  var historyLimit = 1000

  @Option(help: "A Connect that missed more logged events than this replays none (recovered false).")
  var maxReplay = 1000

  @Option(help: "Sessions one account may hold at once (RESOURCE_EXHAUSTED past it).")
  var maxSessionsPerUser = 10

  @Option(help: "How long an account's token is valid: a number with s, m, h or d (e.g. 30d).")
  var tokenTtl = "30d"

  @Option(help: "How long an account whose last session ended still counts as online: a reconnect within it announces nothing (0 announces at once; s, m or h).")
  var presenceGrace = "5s"

  @Option(help: "A permanent group every session joins on Connect (never deleted).")
  var lobby: String?

  @Option(help: "Also accept 'Bearer <JWT>' signed with this key: an HS256 secret, or an RS256, ES256 or EdDSA public key in PEM. 'sub' names the account (created by its first valid token); 'exp' is required.")
  var jwtKey: String?

  func validate() throws {
    guard (0...65535).contains(port) else {
      throw ValidationError("--port \(port) is not a port number: use 0 to 65535.")
    }
    for (flag, value) in [
      ("--max-sessions", maxSessions), ("--max-groups", maxGroups), ("--max-groups-per-user", maxGroupsPerUser),
      ("--max-streams-per-connection", maxStreamsPerConnection),
    ] where value < 1 {
      throw ValidationError("\(flag) \(value) must be at least 1.")
    }
    guard maxQueueBytes >= 64 * 1024 else {
      throw ValidationError("--max-queue-bytes \(maxQueueBytes) is too small: use at least 65536.")
    }
    do {
      _ = try RateLimit.parse(rateLimit)
    } catch {
      throw ValidationError("--rate-limit: \(error)")
    }
    for (flag, value) in [("--keepalive-interval", keepaliveInterval), ("--keepalive-timeout", keepaliveTimeout)]
    where !(value > 0 && value.isFinite) {
      throw ValidationError("\(flag) \(value) must be a positive number of seconds.")
    }
    for (flag, value) in [
      ("--history-limit", historyLimit), ("--max-replay", maxReplay), ("--max-sessions-per-user", maxSessionsPerUser),
    ] where value < 1 {
      throw ValidationError("\(flag) \(value) must be at least 1.")
    }
    guard Self.parseDuration(presenceGrace, allowingZero: true) != nil else {
      throw ValidationError("--presence-grace \(presenceGrace) is not a duration: use 0 or a positive number with s, m or h (e.g. 5s).")
    }
    if let lobby, ChatName(lobby) == nil {
      throw ValidationError("--lobby: \(ChatError.invalidName(.group, lobby).message)")
    }
    guard Self.parseDuration(tokenTtl) != nil else {
      throw ValidationError("--token-ttl \(tokenTtl) is not a duration: use a positive number with s, m, h or d (e.g. 30d).")
    }
    guard (tlsCert == nil) == (tlsKey == nil) else {
      throw ValidationError("--tls-cert and --tls-key go together: give both or neither.")
    }
  }

  /// Runs the server until it stops; the process's exit status.
  func serve() async -> Int32 {
    // A closed stdout or stderr must fail a write, not kill the server.
    signal(SIGPIPE, SIG_IGN)
    let console = noConsole ? nil : ConsoleConfiguration(historyFile: historyFile ?? ConsoleConfiguration.defaultHistoryFile)
    // Through the console, which keeps its prompt intact when it owns a terminal.
    var sinks: [any LogSink] = [console?.logSink ?? FileDescriptorLogSink.standardError]
    if let logFile {
      do {
        sinks.append(try FileDescriptorLogSink(appendingTo: logFile))
      } catch {
        FileDescriptorLogSink.standardError.write(line: "Error: cannot open --log-file \(logFile) for appending.\n")
        return 1
      }
    }
    let level = logLevel
    let logSinks = sinks
    LoggingSystem.bootstrap { _ in ChatLogHandler(level: level, sinks: logSinks) }
    let logger = Logger(label: "chat-server")
    if tasksOnEventLoops { logger.info("tasks run on the event loops") }

    var configuration = ChatServerConfiguration()
    configuration.host = host
    configuration.port = port
    configuration.limits.maxSessions = maxSessions
    configuration.limits.maxGroups = maxGroups
    configuration.limits.maxGroupsPerUser = maxGroupsPerUser
    configuration.limits.maxQueueBytes = maxQueueBytes
    configuration.limits.rateLimit = try! RateLimit.parse(rateLimit)  // validate() checked it
    configuration.maxStreamsPerConnection = maxStreamsPerConnection
    configuration.keepaliveInterval = .seconds(keepaliveInterval)
    configuration.keepaliveTimeout = .seconds(keepaliveTimeout)
    configuration.auth = auth
    configuration.transport = transport
    if let tlsCert, let tlsKey {
      configuration.tls = TLSFiles(certificateChain: tlsCert, privateKey: tlsKey)
    }
    configuration.console = console
    configuration.store = store == .memory ? .memory : .sqlite(directory: dataDir)
    configuration.limits.historyLimit = historyLimit
    configuration.limits.maxReplay = maxReplay
    configuration.limits.maxSessionsPerUser = maxSessionsPerUser
    configuration.limits.tokenLifetime = Self.parseDuration(tokenTtl)!
    configuration.limits.presenceGrace = Self.parseDuration(presenceGrace, allowingZero: true)!
    configuration.lobby = lobby.flatMap(ChatName.init)
    if let jwtKey {
      do {
        configuration.jwtVerifier = try await JWTVerifier(keyFile: jwtKey)
      } catch {
        logger.critical("cannot use --jwt-key", metadata: ["path": "\(jwtKey)", "reason": "\(error)"])
        FileDescriptorLogSink.standardError.write(line: "cannot use --jwt-key \(jwtKey): \(error)\n")
        logger.notice("stopped", metadata: ["exit": "1"])
        return 1
      }
    }
    do {
      try await ChatApplication(configuration: configuration, logger: logger).run()
    } catch let failure as ListenFailure {
      logger.critical("cannot listen", metadata: ["address": "\(failure.host):\(failure.port)", "reason": "\(failure.reason)"])
      FileDescriptorLogSink.standardError.write(line: "\(failure)\n")
      logger.notice("stopped", metadata: ["exit": "1"])
      return 1
    } catch let failure as StoreError {
      logger.critical("cannot open the store", metadata: ["directory": "\(dataDir)", "reason": "\(failure)"])
      FileDescriptorLogSink.standardError.write(line: "cannot open the store in \(dataDir): \(failure)\n")
      logger.notice("stopped", metadata: ["exit": "1"])
      return 1
    } catch {
      logger.critical("server failed", metadata: ["error": "\(error)"])
      logger.notice("stopped", metadata: ["exit": "1"])
      return 1
    }
    // The last line of every run, so an operator can tell an exit from a crash.
    logger.notice("stopped", metadata: ["exit": "0"])
    return 0
  }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension AuthMode: ExpressibleByArgument {}

/// `--store`.
enum StoreKind: String, ExpressibleByArgument, CaseIterable {
  case sqlite
  case memory
}

extension ChatServerCommand {
  /// `30d`, `12h`, `15m`, `90s` (or plain seconds); nil if not a positive duration.
  static func parseDuration(_ text: String, allowingZero: Bool = false) -> Duration? {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    var number = Substring(text)
    var scale = 1.0
    if let last = text.last, let unit = units[last] {
      number = number.dropLast()
      scale = unit
    }
    guard let value = Double(number), value > 0 || (allowingZero && value == 0), value.isFinite else { return nil }
    return .seconds(value * scale)
  }
}

extension ServerTransportKind: ExpressibleByArgument {}
