import NIOPosix

/// The threads password hashing runs on: a started `NIOThreadPool` of a fixed size, which runs at
/// most that many jobs at once and queues the rest, shut down when the last hasher sharing it goes.
final class HashingThreadPool: Sendable {
  private let pool: NIOThreadPool

  init(threads: Int) {
    pool = NIOThreadPool(numberOfThreads: threads)
    pool.start()
  }

  deinit {
    // NIOThreadPool asserts it was shut down before it goes; nothing waits for the callback.
    pool.shutdownGracefully { _ in }
  }

  func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await pool.runIfActive(body)
  }
}
