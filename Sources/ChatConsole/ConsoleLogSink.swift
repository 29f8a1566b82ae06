import ChatCore
import Synchronization

/// The log's way to the terminal: while a console owns the terminal, lines
/// are handed to its thread, which prints them above the prompt (readline is
/// not thread-safe, so no other thread may write to the terminal then);
/// otherwise they go straight to the fallback sink (stderr).
public final class ConsoleLogSink: LogSink {
  private struct State {
    var wakeUp: WakeUpPipe?
    var pending: [String] = []
  }

  private enum Route {
    case direct
    case queued(wake: WakeUpPipe?)
  }

  /// Past this many lines waiting for the terminal thread (it is stuck, or
  /// the log floods), lines go straight to the fallback: the prompt may be
  /// garbled, but nothing is lost and memory stays bounded.
  static let pendingLimit = 4096

  private let state = Mutex(State())
  private let fallback: any LogSink

  init(fallback: any LogSink) {
    self.fallback = fallback
  }

  public func write(line: String) {
    let route = state.withLock { state -> Route in
      guard let wakeUp = state.wakeUp, state.pending.count < Self.pendingLimit else { return .direct }
      state.pending.append(line)
      // One byte per batch: the thread takes every pending line when it wakes.
      return .queued(wake: state.pending.count == 1 ? wakeUp : nil)
    }
    switch route {
    case .direct: fallback.write(line: line)
    case .queued(let wake): wake?.wake()
    }
  }

  /// From now on lines wait for the terminal thread, which `wakeUp` wakes.
  func attach(_ wakeUp: WakeUpPipe) {
    state.withLock { $0.wakeUp = wakeUp }
  }

  /// The lines waiting to be printed, for the terminal thread.
  func takePending() -> [String] {
    state.withLock { state in
      defer { state.pending = [] }
      return state.pending
    }
  }

  /// Lines go straight to the fallback again; the ones still waiting are
  /// written there first.
  func detach() {
    let pending = state.withLock { state in
      state.wakeUp = nil
      defer { state.pending = [] }
      return state.pending
    }
    for line in pending { fallback.write(line: line) }
  }
}
