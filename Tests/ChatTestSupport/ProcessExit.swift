import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

// Shared by the server's and the client's process tests.

/// A process's exit status, for async code to wait for.
public final class ProcessExit: Sendable {
  private struct State {
    var status: Int32?
    var waiters: [Int: CheckedContinuation<Int32?, Never>] = [:]
    var nextWaiterID = 0
  }

  private let state = Mutex(State())

  /// Call before the process runs; start it with `run(_:)`.
  public init(_ process: Process) {
    process.terminationHandler = { [self] process in
      finish(process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus)
    }
  }

  /// Starts the process and watches for its exit.
  public func run(_ process: Process) throws {
    try process.run()
    watch(process)
  }

  /// Also waits for the exit on a thread of its own, without reaping the
  /// child (Foundation still does): on Linux, Foundation learns of an exit
  /// when a socket the child holds closes, and a child another thread
  /// spawns at the same moment can inherit that socket and keep it open,
  /// so the termination handler can come only when that other process
  /// ends. Whichever learns first gives the status.
  private func watch(_ process: Process) {
    #if canImport(Glibc)
      let pid = process.processIdentifier
      let thread = Thread { [self] in
        var info = siginfo_t()
        var result: Int32
        repeat {
          result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
        } while result == -1 && errno == EINTR
        // ECHILD: Foundation reaped it first, and its handler gives the status.
        guard result == 0 else { return }
        let status = info._sifields._sigchld.si_status
        finish(info.si_code == CLD_EXITED ? status : 128 + status)
      }
      thread.start()
    #endif
  }

  private func finish(_ status: Int32) {
    let waiters = state.withLock { state -> [CheckedContinuation<Int32?, Never>] in
      guard state.status == nil else { return [] }
      state.status = status
      defer { state.waiters = [:] }
      return Array(state.waiters.values)
    }
    for waiter in waiters { waiter.resume(returning: status) }
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

extension Pipe {
  /// A pipe whose ends no later-spawned process inherits. Foundation's
  /// `Pipe()` leaves them inheritable, so a child another test spawns at the
  /// same moment can keep a copy of a write end open, and the reader never
  /// sees the end of its input (CI: a server waited 20 s for the end of its
  /// stdin). The child meant to get an end still does: it is duplicated
  /// onto its fd 0, 1 or 2, which close-on-exec does not follow.
  public static func closedOnExec() -> Pipe {
    let pipe = Pipe()
    #if canImport(Glibc)
      for handle in [pipe.fileHandleForReading, pipe.fileHandleForWriting] {
        _ = fcntl(handle.fileDescriptor, F_SETFD, FD_CLOEXEC)
      }
    #endif
    return pipe
  }
}
