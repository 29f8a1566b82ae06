import Synchronization

/// How to connect a benchmark's sessions.
struct FleetPlan: Sendable {
  var names: [String]
  /// Sessions are spread over this many connections, round robin.
  var connections: Int
  /// At most this many sessions connecting (started, not yet welcomed) at once.
  var connectConcurrency: Int
  /// How long all sessions may take to reach Welcome.
  var connectTimeout: Duration
  var recordLatency: Bool
}

/// The sessions of a running benchmark, connected.
struct Fleet: Sendable {
  let sessions: [BenchSession]
  let counters: FleetCounters
  /// When the first connection was made.
  let startedAt: UInt64

  /// Message events received by all sessions so far.
  func messagesReceived() -> Int {
    sessions.reduce(0) { $0 + $1.progress.messages.load(ordering: .relaxed) }
  }

  /// Sessions the server (or a failure) ended.
  var endedCount: Int { counters.ended.load(ordering: .relaxed) }

  /// Every session reached Welcome.
  var allWelcomed: Bool { counters.welcomed.load(ordering: .relaxed) == sessions.count }

  /// Polls `condition` every `interval` until it holds (true) or `timeout` passes (false).
  func waitUntil(
    timeout: Duration, interval: Duration = .milliseconds(5), _ condition: () -> Bool
  ) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
      if ContinuousClock.now >= deadline || Task.isCancelled { return false }
      try? await Task.sleep(for: interval)
    }
    return true
  }

  /// Waits until every session that is still open has received at least
  /// `expected(session)` messages, or until the count has not moved for
  /// `idleTimeout`; returns when it stopped.
  func drain(idleTimeout: Duration, expected: (BenchSession) -> Int) async -> UInt64 {
    var last = -1
    var lastChange = ContinuousClock.now
    while true {
      let done = sessions.allSatisfy { session in
        session.progress.ended.load(ordering: .relaxed)
          || session.progress.messages.load(ordering: .relaxed) >= expected(session)
      }
      if done || Task.isCancelled { return BenchClock.now() }
      let total = messagesReceived()
      if total != last {
        last = total
        lastChange = .now
      } else if ContinuousClock.now - lastChange >= idleTimeout {
        return BenchClock.now()
      }
      try? await Task.sleep(for: .milliseconds(10))
    }
  }
}

/// Connects `plan.names` to `target` (all reaching Welcome, or the connect
/// timeout passing), runs `body` while they stay connected, then closes them
/// and returns `body`'s result with what each session saw.
///
/// A connection starts with its first session, under the same gate: grpc-swift
/// connects as soon as a client runs, so starting every client at once would
/// be a SYN flood of its own.
func withFleet<Result: Sendable>(
  _ plan: FleetPlan, target: BenchTarget,
  _ body: @Sendable (Fleet) async throws -> Result
) async throws -> (Result, [SessionTally]) {
  let startedAt = BenchClock.now()
  let connectionCount = max(1, min(plan.connections, plan.names.count))
  let connections = try (0..<connectionCount).map { _ in try BenchConnection(target: target) }
  let sessions = plan.names.enumerated().map { index, name in
    BenchSession(
      index: index, name: name, connection: connections[index % connectionCount],
      ownsConnection: connectionCount == plan.names.count)
  }
  let counters = FleetCounters()
  let fleet = Fleet(sessions: sessions, counters: counters, startedAt: startedAt)
  let gate = ConnectGate(limit: plan.connectConcurrency)
  let connectDeadline = ContinuousClock.now + plan.connectTimeout
  let watchdog = Task {
    try? await Task.sleep(until: connectDeadline)
    gate.close()
  }
  defer { watchdog.cancel() }

  // Connections run in a group of their own, closed only after every session
  // has ended: closing one first would end its streams as failures.
  return try await withThrowingTaskGroup(of: Void.self) { connectionGroup in
    defer { connectionGroup.cancelAll() }
    return try await withThrowingTaskGroup(of: SessionTally.self) { group in
      var started = 0
      for session in sessions {
        guard await gate.acquire() else { break }
        // Round robin: sessions 0..<connectionCount are each the first on theirs.
        if session.index < connectionCount {
          connectionGroup.addTask { try? await session.connection.client.runConnections() }
        }
        group.addTask { await session.run(gate: gate, counters: counters, recordLatency: plan.recordLatency) }
        started += 1
      }
      let startedCount = started
      _ = await fleet.waitUntil(timeout: connectDeadline - .now) {
        counters.welcomed.load(ordering: .relaxed) + counters.failedToConnect.load(ordering: .relaxed)
          >= startedCount
      }
      watchdog.cancel()
      for session in sessions[startedCount...] { session.progress.ended.store(true, ordering: .relaxed) }

      let result: Result
      do {
        result = try await body(fleet)
      } catch {
        group.cancelAll()
        throw error
      }
      // Each session's stream ends; the session hands back what it saw.
      group.cancelAll()
      var tallies: [SessionTally] = []
      tallies.reserveCapacity(sessions.count)
      for try await tally in group { tallies.append(tally) }
      // Sessions never started (connect timeout) count as failed to connect.
      for session in sessions[startedCount...] {
        var tally = SessionTally(index: session.index, startedAt: 0)
        tally.outcome = .ended(code: "not started", message: "the connect phase timed out first")
        tallies.append(tally)
      }
      tallies.sort { $0.index < $1.index }
      return (result, tallies)
    }
  }
}
