import ChatStore
import Logging
import ServiceLifecycle

/// Keeps the store open while the server runs; on graceful shutdown commits
/// what is pending and releases the data directory. It is first in the
/// group, so it is shut down last, after the registry stored its positions.
struct StoreService: Service {
  let store: any Store
  let logger: Logger

  func run() async throws {
    try? await gracefulShutdown()
    await store.close()
    if let statistics = (store as? SQLiteStore)?.statistics {
      // Records per write show what the message log's writes batch;
      // operations per transaction what SQLite's commit window does.
      logger.info(
        "store closed",
        metadata: [
          "log_writes": "\(statistics.logWrites)", "log_records": "\(statistics.logRecords)",
          "failed_log_writes": "\(statistics.failedLogWrites)", "pruned": "\(statistics.pruned)",
          "log_segments": "\(statistics.logSegments)", "log_bytes": "\(statistics.logBytes)",
          "transactions": "\(statistics.transactions)", "operations": "\(statistics.operations)",
          "failed_transactions": "\(statistics.failedTransactions)",
        ])
    } else {
      logger.info("store closed")
    }
  }
}
