import Foundation
import Synchronization

// Shared by the server's and the client's process tests.

/// A process's exit status, for async code to wait for.
public final class ProcessExit: Sendable {
  private struct State {
    var status: Int32?
    var waiters: [Int: CheckedContinuation<Int32?, Never>] = [:]
    var nextWaiterID = 0
  }

  private let state = Mutex(State())

  /// Call before `process.run()`.
  public init(_ process: Process) {
    process.terminationHandler = { [self] process in
      let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
      let waiters = state.withLock { state in
        state.status = status
        defer { state.waiters = [:] }
        return state.waiters.values
      }
      for waiter in waiters { waiter.resume(returning: status) }
    }
  }

  /// The exit status (128 + the signal, if a signal ended it); nil if the
  /// waiting task is cancelled first.
  public func status() async -> Int32? {
    let id = state.withLock { state in
      defer { state.nextWaiterID += 1 }
      return state.nextWaiterID
    }
    return await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let ready = state.withLock { state -> Int32?? in
          if let status = state.status { return .some(status) }
          if Task.isCancelled { return .some(nil) }
          state.waiters[id] = continuation
          return .none
        }
        if case .some(let status) = ready { continuation.resume(returning: status) }
      }
    } onCancel: {
      let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
      waiter?.resume(returning: nil)
    }
  }
}
