import NIOPosix
import Synchronization

/// The threads password hashing runs on: a started `NIOThreadPool` of a fixed size, which runs at
/// most that many jobs at once and queues the rest, shut down when the last hasher sharing it goes.
final class HashingThreadPool: Sendable {
  private let pool: NIOThreadPool
  private let jobs = Mutex(JobCounts())

  struct JobCounts: Sendable {
    var running = 0
    var peakRunning = 0
    var completed = 0
  }

  init(threads: Int) {
    pool = NIOThreadPool(numberOfThreads: threads)
    pool.start()
  }

  deinit {
    // NIOThreadPool asserts it was shut down before it goes; nothing waits for the callback.
    pool.shutdownGracefully { _ in }
  }

  func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await pool.runIfActive { [self] in
      self.jobs.withLock {
        $0.running += 1
        $0.peakRunning = max($0.peakRunning, $0.running)
      }
      defer {
        self.jobs.withLock {
          $0.running -= 1
          $0.completed += 1
        }
      }
      return try body()
    }
  }

  /// How many jobs ran and the most that ran at once (what the tests check).
  var jobCounts: JobCounts { jobs.withLock { $0 } }
}
