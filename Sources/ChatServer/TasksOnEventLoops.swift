import Foundation
import NIOCore
import NIOPosix

/// `--tasks-on-event-loops`: Swift concurrency's jobs on NIO's event loops.
public enum TasksOnEventLoops {
  public enum Failure: Error, Equatable, CustomStringConvertible {
    /// NIO requires the main thread, before any task has run.
    case notOnMainThread
    case unsupported

    public var description: String {
      switch self {
      case .notOnMainThread: "--tasks-on-event-loops must be set up on the main thread, before any task runs."
      case .unsupported: "--tasks-on-event-loops is not supported by this Swift runtime."
      }
    }
  }

  /// Installs NIO's event loops as the global executor. Call it from a
  /// synchronous `main`, before anything starts a task.
  public static func install() throws(Failure) {
    guard Thread.isMainThread else { throw .notOnMainThread }
    guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
      throw .unsupported
    }
  }
}
