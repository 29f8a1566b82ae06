import Synchronization

/// More than `maxFailures` failed sign-ins for one name within `window`: refuse until the window
/// allows again.
///
/// A sliding window per name: after `maxFailures` failures inside `window`, the next attempt is
/// refused until the oldest of them is `window` old. Refused attempts are not failures (they run
/// no hash), and a success forgets the name's failures. Names are keys as the caller normalises
/// them (the registry's case-folded name).
public final class SignInThrottle: Sendable {
  public let maxFailures: Int
  public let window: Duration
  private let now: @Sendable () -> ContinuousClock.Instant
  private let state = Mutex(State())

  private struct State {
    /// The newest failures of each name, oldest first, at most `maxFailures` of them.
    var failures: [String: [ContinuousClock.Instant]] = [:]
    /// When `failures` reaches this many names, names with no failure left inside the window are
    /// dropped (so it stays bounded by the names that failed within one window).
    var pruneAt = 1024
  }

  public convenience init(maxFailures: Int = 5, window: Duration = .seconds(60)) {
    let clock = ContinuousClock()
    self.init(maxFailures: maxFailures, window: window, now: { clock.now })
  }

  /// - Parameter now: the clock; tests pass a manual one.
  public init(
    maxFailures: Int, window: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant
  ) {
    precondition(maxFailures >= 1, "maxFailures must be at least 1")
    self.maxFailures = maxFailures
    self.window = window
    self.now = now
  }

  /// nil = may try now; otherwise how long until the window allows another attempt.
  public func retryAfter(_ nameKey: String) -> Duration? {
    let now = now()
    return state.withLock { state in
      guard let failures = state.failures[nameKey], failures.count >= maxFailures else {
        return nil
      }
      let allowedAt = failures[failures.count - maxFailures] + window
      return allowedAt > now ? allowedAt - now : nil
    }
  }

  public func recordFailure(_ nameKey: String) {
    let now = now()
    state.withLock { state in
      var failures = state.failures[nameKey, default: []]
      failures.removeAll { $0 + window <= now }
      failures.append(now)
      if failures.count > maxFailures { failures.removeFirst(failures.count - maxFailures) }
      state.failures[nameKey] = failures

      if state.failures.count >= state.pruneAt {
        state.failures = state.failures.filter { _, failures in
          failures.last.map { $0 + window > now } ?? false
        }
        state.pruneAt = max(1024, state.failures.count * 2)
      }
    }
  }

  public func recordSuccess(_ nameKey: String) {
    _ = state.withLock { $0.failures.removeValue(forKey: nameKey) }
  }

  /// Names with failures on record (for tests and the console).
  public var trackedNameCount: Int { state.withLock { $0.failures.count } }
}
