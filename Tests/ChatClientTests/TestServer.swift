import ChatServer
import InMemoryLogging
import Logging

// A minimal copy of ChatServerTests' TestServer and withTimeout: test targets
// cannot share files, and the client's tests need nothing else from there.

struct TimedOut: Error, CustomStringConvertible {
  let what: String
  var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `TimedOut` if it takes longer than `seconds`.
func withTimeout<T: Sendable>(
  _ seconds: Double = 5, _ what: String = "an event", _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
  try await withThrowingTaskGroup(of: T.self) { group in
    group.addTask { try await body() }
    group.addTask {
      try await Task.sleep(for: .seconds(seconds))
      throw TimedOut(what: what)
    }
    defer { group.cancelAll() }
    return try await group.next()!
  }
}

/// A real server on 127.0.0.1 and a free port, with an in-memory log.
final class TestServer: Sendable {
  let app: ChatApplication
  let logs = InMemoryLogHandler()
  let port: Int
  private let runTask: Task<Void, any Error>

  /// The server's defaults, as `chat-server` has them, unless `configure`
  /// changes them.
  init(_ configure: (inout ChatServerConfiguration) -> Void = { _ in }) async throws {
    var handler = logs
    handler.logLevel = .debug
    let logger = Logger(label: "test-server") { _ in handler }
    var configuration = ChatServerConfiguration()
    configuration.port = 0
    configuration.handleSignals = false
    configure(&configuration)
    let app = ChatApplication(configuration: configuration, logger: logger)
    self.app = app
    runTask = Task { try await app.run() }
    port = try await withTimeout(10, "the server to listen") { try await app.listeningAddress().port }
  }

  var registry: ChatRegistry { app.registry }

  /// Graceful shutdown, then waits for `run()` to return.
  func stop() async throws {
    await app.shutdown()
    try await withTimeout(10, "the server to stop") { [runTask] in try await runTask.value }
  }
}
