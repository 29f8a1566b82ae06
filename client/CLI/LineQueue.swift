import Synchronization

/// Lines typed, waiting to be read one at a time: the command loop reads them, and so does a
/// sign-in that takes its password from the next line of a script.
final class LineQueue: Sendable {
  private struct State {
    var lines: [String] = []
    var finished = false
    var waiter: CheckedContinuation<String?, Never>?
  }
  private let state = Mutex(State())

  func yield(_ line: String) {
    let waiter = state.withLock { state -> CheckedContinuation<String?, Never>? in
      guard !state.finished else { return nil }
      if let waiter = state.waiter.take() { return waiter }
      state.lines.append(line)
      return nil
    }
    waiter?.resume(returning: line)
  }

  func finish() {
    let waiter = state.withLock { state in
      state.finished = true
      return state.waiter.take()
    }
    waiter?.resume(returning: nil)
  }

  /// The next line; nil at the end of input or when the reading task is cancelled. One reader
  /// at a time.
  func next() async -> String? {
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let ready: String?? = state.withLock { state in
          if !state.lines.isEmpty { return .some(state.lines.removeFirst()) }
          if state.finished || Task.isCancelled { return .some(nil) }
          state.waiter = continuation
          return .none
        }
        if let ready { continuation.resume(returning: ready) }
      }
    } onCancel: {
      state.withLock { $0.waiter.take() }?.resume(returning: nil)
    }
  }
}
