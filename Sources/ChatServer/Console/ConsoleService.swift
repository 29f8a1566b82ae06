import Logging
import ServiceLifecycle

/// The operator console as a service of the server's `ServiceGroup`.
///
/// `shutdown` makes `run()` return, and the group (for which this service
/// is `.gracefullyShutdownGroup`) shuts down gracefully as on SIGTERM. End
/// of input closes the console but not the server: `run()` then waits for
/// the group's graceful shutdown, since returning would end the group.
struct ConsoleService: Service {
  let console: OperatorConsole
  let configuration: ConsoleConfiguration
  let logger: Logger

  func run() async throws {
    let terminal = TerminalConsole.isAvailable
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
