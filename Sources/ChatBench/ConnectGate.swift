import Synchronization

/// Bounds how many sessions are connecting (started, not yet welcomed) at
/// once, so a large run does not overflow the server's accept backlog with
/// SYNs. `close()` wakes every waiter with false (the connect phase timed out).
final class ConnectGate: Sendable {
  private struct State {
    var available: Int
    var closed = false
    var waiters: [CheckedContinuation<Bool, Never>] = []

    /// What `release` must resume, if anyone.
    mutating func release() -> CheckedContinuation<Bool, Never>? {
      if !waiters.isEmpty { return waiters.removeFirst() }
      available += 1
      return nil
    }
  }

  private let state: Mutex<State>

  init(limit: Int) {
    state = Mutex(State(available: max(1, limit)))
  }

  /// Waits for a free slot; false if the gate was closed.
  func acquire() async -> Bool {
    await withCheckedContinuation { continuation in
      let ready: Bool? = state.withLock { state in
        if state.closed { return false }
        if state.available > 0 {
          state.available -= 1
          return true
        }
        state.waiters.append(continuation)
        return nil
      }
      if let ready { continuation.resume(returning: ready) }
    }
  }

  func release() {
    state.withLock { $0.release() }?.resume(returning: true)
  }

  func close() {
    let waiters = state.withLock { state in
      state.closed = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(returning: false) }
  }
}
