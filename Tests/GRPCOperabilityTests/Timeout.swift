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

/// Waits until `condition` holds, checking every 10 ms, failing with
/// `TimedOut` after `seconds`. Only for state that offers no event to await
/// (such as the server noticing that a client went away).
func waitUntil(
  _ seconds: Double, _ what: String, _ condition: @escaping @Sendable () -> Bool
) async throws {
  try await withTimeout(seconds, what) {
    while !condition() { try await Task.sleep(for: .milliseconds(10)) }
  }
}
