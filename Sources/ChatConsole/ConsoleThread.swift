import ChatCore
import Foundation
import Synchronization

/// The dedicated thread that reads the console's input (blocking reads and
/// readline have no place on the concurrency pool), and the way async code
/// stops it and learns how it ended.
final class ConsoleThread: Sendable {
  enum Outcome: Sendable {
    /// The operator typed `shutdown`.
    case shutdownRequested
    /// End of input: the console is closed, the server goes on.
    case inputEnded
    /// `stop()` was called.
    case stopped
  }

  /// What one wait on the input found.
  struct Ready {
    var input = false
    var inputClosed = false
    var stop = false
  }

  private struct State {
    var stopRequested = false
    var outcome: Outcome?
    var waiters: [Int: CheckedContinuation<Outcome, Never>] = [:]
    var nextWaiterID = 0
  }

  private let state = Mutex(State())
  let wakeUp: WakeUpPipe

  private init(wakeUp: WakeUpPipe) {
    self.wakeUp = wakeUp
  }

  /// Starts a thread that runs `body` and reports its outcome.
  static func start(name: String, _ body: @escaping @Sendable (ConsoleThread) -> Outcome) throws -> ConsoleThread {
    let thread = ConsoleThread(wakeUp: try WakeUpPipe())
    let system = Thread { thread.finish(body(thread)) }
    system.name = name
    system.start()
    return thread
  }

  /// Asks the thread to end; it does at its next wait.
  func stop() {
    state.withLock { $0.stopRequested = true }
    wakeUp.wake()
  }

  var isStopRequested: Bool { state.withLock { $0.stopRequested } }

  /// Waits until `fd` is readable, the thread is woken (by `stop()` or by a
  /// log line to print), or both; or, given a timeout, until it passes.
  /// With no `fd`, waits only to be woken.
  func wait(for fd: Int32?, timeoutMilliseconds: Int32 = -1) -> Ready {
    // poll(2) skips a negative descriptor.
    var fds = [
      pollfd(fd: fd ?? -1, events: Int16(POLLIN), revents: 0),
      pollfd(fd: wakeUp.readEnd, events: Int16(POLLIN), revents: 0),
    ]
    while true {
      if isStopRequested { return Ready(stop: true) }
      let count = poll(&fds, 2, timeoutMilliseconds)
      if count < 0 {
        if errno == EINTR { continue }
        return Ready(inputClosed: true)
      }
      if fds[1].revents != 0 { wakeUp.drain() }
      return Ready(
        input: fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0,
        inputClosed: fds[0].revents & Int16(POLLNVAL) != 0,
        stop: isStopRequested)
    }
  }

  /// How the thread ended, once it has; `.stopped` if the waiting task is
  /// cancelled first (the thread may be stuck writing to a full pipe, and a
  /// cancelled server must not wait for it).
  func outcome() async -> Outcome {
    let id = state.withLock { state in
      defer { state.nextWaiterID += 1 }
      return state.nextWaiterID
    }
    return await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let outcome = state.withLock { state -> Outcome? in
          if let outcome = state.outcome { return outcome }
          if Task.isCancelled { return .stopped }
          state.waiters[id] = continuation
          return nil
        }
        if let outcome { continuation.resume(returning: outcome) }
      }
    } onCancel: {
      let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
      waiter?.resume(returning: .stopped)
    }
  }

  private func finish(_ outcome: Outcome) {
    let waiters = state.withLock { state in
      state.outcome = outcome
      defer { state.waiters = [:] }
      return state.waiters.values
    }
    for waiter in waiters { waiter.resume(returning: outcome) }
  }
}
