import Synchronization

/// The outcome of one `submit`: completed once by the store's writer, awaited
/// by the caller before it answers OK.
public final class Acknowledgement: Sendable {
  private enum State {
    case pending(waiters: [Int: CheckedContinuation<Void, any Error>], nextID: Int)
    case done(StoreError?)
  }

  private let state: Mutex<State>

  init() {
    state = Mutex(.pending(waiters: [:], nextID: 0))
  }

  private init(done error: StoreError?) {
    state = Mutex(.done(error))
  }

  /// Already committed: what a store with nothing to wait for returns.
  public static let committed = Acknowledgement(done: nil)

  /// Already failed: what a store that cannot take operations returns.
  public static func failed(_ error: StoreError) -> Acknowledgement {
    Acknowledgement(done: error)
  }

  /// nil while pending; then `.success` or the failure.
  public var outcome: Result<Void, StoreError>? {
    state.withLock { state in
      guard case .done(let error) = state else { return nil }
      return error.map { .failure($0) } ?? .success(())
    }
  }

  /// Waits until the operations are committed, throwing the store's failure,
  /// `StoreError.timedOut` after `timeout`, or `CancellationError`.
  public func wait(timeout: Duration) async throws {
    if let outcome { return try outcome.get() }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await self.waitUntimed() }
      group.addTask {
        try await Task.sleep(for: timeout)
        throw StoreError.timedOut(timeout)
      }
      defer { group.cancelAll() }
      try await group.next()
    }
  }

  /// Waits until the operations are committed, throwing the store's failure
  /// or `CancellationError`: for a caller whose wait is already bounded by
  /// its task's cancellation (an RPC's deadline cancels its handler). It
  /// costs no timer: measured in release with 8 callers appending and
  /// awaiting, `wait(timeout:)`'s timer task cost about 30 µs of CPU per
  /// append on Linux (docs/store-choice.md).
  public func waitUntimed() async throws {
    let id = state.withLock { state -> Int in
      guard case .pending(let waiters, let nextID) = state else { return -1 }
      state = .pending(waiters: waiters, nextID: nextID + 1)
      return nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        // Either it completed meanwhile, the task is cancelled, or we wait.
        let ready = state.withLock { state -> Result<Void, any Error>? in
          switch state {
          case .done(let error):
            return error.map { .failure($0) } ?? .success(())
          case .pending(var waiters, let nextID):
            if Task.isCancelled { return .failure(CancellationError()) }
            waiters[id] = continuation
            state = .pending(waiters: waiters, nextID: nextID)
            return nil
          }
        }
        if let ready { continuation.resume(with: ready) }
      }
    } onCancel: {
      let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
        guard case .pending(var waiters, let nextID) = state else { return nil }
        let waiter = waiters.removeValue(forKey: id)
        state = .pending(waiters: waiters, nextID: nextID)
        return waiter
      }
      waiter?.resume(throwing: CancellationError())
    }
  }

  /// Completes once (later calls are ignored); resumes waiters outside the lock.
  func complete(_ error: StoreError?) {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
      guard case .pending(let waiters, _) = state else { return [] }
      state = .done(error)
      return Array(waiters.values)
    }
    for waiter in waiters {
      if let error { waiter.resume(throwing: error) } else { waiter.resume() }
    }
  }
}
