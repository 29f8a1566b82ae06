import ArgumentParser
import Foundation
import ChatServer
import Logging

/// `chat-server`: validates its options and hands them to `ChatApplication`.
@main
struct ChatServerCommand: AsyncParsableCommand {
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

  @Option(help: "End a session whose unsent events pass this many bytes (a slow consumer).")
  var maxQueueBytes = ChatRegistry.defaultMaxQueueBytes

  @Flag(help: "Run without the operator console on stdin.")
  var noConsole = false

  @Option(help: "Where the console keeps its history (default ~/.chat_server_history; created readable by its owner only).")
  var historyFile: String?

  func validate() throws {
    guard (0...65535).contains(port) else {
      throw ValidationError("--port \(port) is not a port number: use 0 to 65535.")
    }
    guard maxQueueBytes >= 64 * 1024 else {
      throw ValidationError("--max-queue-bytes \(maxQueueBytes) is too small: use at least 65536.")
    }
  }

  func run() async throws {
    // A closed stdout or stderr must fail a write, not kill the server.
    signal(SIGPIPE, SIG_IGN)
    let console = noConsole ? nil : ConsoleConfiguration(historyFile: historyFile ?? ConsoleConfiguration.defaultHistoryFile)
    // Through the console, which keeps its prompt intact when it owns a terminal.
    var sinks: [any LogSink] = [console?.logSink ?? FileDescriptorLogSink.standardError]
    if let logFile {
      do {
        sinks.append(try FileDescriptorLogSink(appendingTo: logFile))
      } catch {
        throw ValidationError("cannot open --log-file \(logFile) for appending.")
      }
    }
    let level = logLevel
    LoggingSystem.bootstrap { _ in ChatLogHandler(level: level, sinks: sinks) }
    let logger = Logger(label: "chat-server")

    var configuration = ChatServerConfiguration()
    configuration.host = host
    configuration.port = port
    configuration.maxQueueBytes = maxQueueBytes
    configuration.console = console
    try await ChatApplication(configuration: configuration, logger: logger).run()
  }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
