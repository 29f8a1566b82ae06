import ChatCore
import ChatServer
import InMemoryLogging
import Logging

// Shared by the server's, the client's and the benchmark's tests.

public struct TimedOut: Error, CustomStringConvertible {
  public let what: String
  public var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `TimedOut` if it takes longer than `seconds`.
public func withTimeout<T: Sendable>(
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

/// A real server in this process, on 127.0.0.1 and a free port, with an
/// in-memory log.
public final class TestServer: Sendable {
  public let app: ChatApplication
  public let logs = InMemoryLogHandler()
  public let port: Int
  private let runTask: Task<Void, any Error>

  /// Rate limiting is off unless `configure` turns it on.
  public init(
    logLevel: Logger.Level = .debug, _ configure: (inout ChatServerConfiguration) -> Void = { _ in }
  ) async throws {
    var handler = logs
    handler.logLevel = logLevel
    let logger = Logger(label: "test-server") { _ in handler }
    var configuration = ChatServerConfiguration()
    configuration.port = 0
    configuration.handleSignals = false
    configuration.limits.rateLimit = nil
    // scrypt at its real cost would make every SignUp take a quarter of a second.
    configuration.passwordHashing = .fastForTests
    configure(&configuration)
    let app = try ChatApplication(configuration: configuration, logger: logger)
    self.app = app
    runTask = Task { try await app.run() }
    port = try await withTimeout(10, "the server to listen") { try await app.listeningAddress().port }
  }

  public var registry: ChatRegistry { app.registry }

  /// Graceful shutdown, then waits for `run()` to return.
  public func stop() async throws {
    await app.shutdown()
    try await withTimeout(10, "the server to stop") { [runTask] in try await runTask.value }
  }

  /// Runs `body` against a fresh server, stopping it after.
  public static func with<T: Sendable>(_ body: (TestServer) async throws -> T) async throws -> T {
    try await with({ _ in }, body)
  }

  /// Runs `body` against a fresh server configured by `configure`, stopping it after.
  public static func with<T: Sendable>(
    _ configure: (inout ChatServerConfiguration) -> Void, _ body: (TestServer) async throws -> T
  ) async throws -> T {
    let server = try await TestServer(configure)
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
