import ChatBench
import ChatServer
import InMemoryLogging
import Logging

struct TimedOut: Error, CustomStringConvertible {
  let what: String
  var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `TimedOut` if it takes longer than `seconds`.
func withTimeout<T: Sendable>(
  _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
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

/// A real server in this process, on 127.0.0.1 and a free port, with an
/// in-memory log (the pattern of ChatServerTests' `TestServer`).
final class TestServer: Sendable {
  let app: ChatApplication
  let logs = InMemoryLogHandler()
  let target: BenchTarget
  private let runTask: Task<Void, any Error>

  init() async throws {
    var handler = logs
    handler.logLevel = .info
    let logger = Logger(label: "bench-test-server") { _ in handler }
    var configuration = ChatServerConfiguration()
    configuration.port = 0
    configuration.handleSignals = false
    // The benchmark measures delivery, not the rate limiter.
    configuration.limits.rateLimit = nil
    let app = ChatApplication(configuration: configuration, logger: logger)
    self.app = app
    runTask = Task { try await app.run() }
    let port = try await withTimeout(10, "the server to listen") { try await app.listeningAddress().port }
    target = BenchTarget(host: "127.0.0.1", port: port)
  }

  /// Graceful shutdown, then waits for `run()` to return.
  func stop() async throws {
    await app.shutdown()
    try await withTimeout(10, "the server to stop") { [runTask] in try await runTask.value }
  }

  /// Runs `body` against a fresh server, stopping it after.
  static func with<T: Sendable>(_ body: (TestServer) async throws -> T) async throws -> T {
    let server = try await TestServer()
    do {
      let result = try await body(server)
      try await server.stop()
      return result
    } catch {
      try? await server.stop()
      throw error
    }
  }
}

extension CommonOptions {
  /// Short timeouts, so a broken run fails fast instead of hanging the suite.
  static var test: CommonOptions {
    var options = CommonOptions()
    options.connectTimeout = .seconds(10)
    options.setupTimeout = .seconds(10)
    options.drainTimeout = .seconds(3)
    return options
  }
}
