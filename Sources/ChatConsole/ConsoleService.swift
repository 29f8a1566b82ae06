import ChatCore
import Foundation
import Logging
import ServiceLifecycle

/// The operator console as a service of the server's `ServiceGroup`.
///
/// `shutdown` makes `run()` return, and the group (for which this service
/// is `.gracefullyShutdownGroup`) shuts down gracefully as on SIGTERM. End
/// of input closes the console but not the server: `run()` then waits for
/// the group's graceful shutdown, since returning would end the group.
public struct ConsoleService: Service {
  let console: OperatorConsole
  let configuration: ConsoleConfiguration
  let logger: Logger
  /// Returns once the gRPC server listens: commands are read only then, so
  /// that `echo shutdown | chat-server` does not stop a server still binding
  /// (grpc-swift's serve() throws if it is shut down mid-bind).
  let serverListening: @Sendable () async throws -> Void

  public init(
    console: OperatorConsole, configuration: ConsoleConfiguration, logger: Logger,
    serverListening: @escaping @Sendable () async throws -> Void
  ) {
    self.console = console
    self.configuration = configuration
    self.logger = logger
    self.serverListening = serverListening
  }

  public func run() async throws {
    do {
      try await cancelWhenGracefulShutdown { try await serverListening() }
    } catch {
      // Shut down before it listened, or it failed to: the group is ending.
      try? await gracefulShutdown()
      return
    }
    let terminal = TerminalConsole.isAvailable
    // Before the console thread first looks at the terminal; see JobControl.
    if isatty(STDIN_FILENO) == 1 { JobControl.ignoreTerminalStops() }
    let thread: ConsoleThread
    do {
      if terminal {
        let console = TerminalConsole(
          console: console, logSink: configuration.logSink, historyFile: configuration.historyFile, logger: logger)
        thread = try ConsoleThread.start(name: "console") { console.run(on: $0) }
      } else {
        let console = LineConsole(console: console)
        thread = try ConsoleThread.start(name: "console") { console.run(on: $0) }
      }
    } catch {
      logger.error("console unavailable", metadata: ["error": "\(error)"])
      try? await gracefulShutdown()
      return
    }
    logger.notice("console started", metadata: ["input": terminal ? "terminal" : "lines"])

    let outcome = await withTaskCancellationOrGracefulShutdownHandler {
      await thread.outcome()
    } onCancelOrGracefulShutdown: {
      thread.stop()
    }
    switch outcome {
    case .shutdownRequested, .stopped:
      return
    case .inputEnded:
      logger.notice("console closed at end of input")
      try? await gracefulShutdown()
    }
  }
}
