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
      // Operations per transaction show what the commit window batches.
      logger.info(
        "store closed",
        metadata: [
          "transactions": "\(statistics.transactions)", "operations": "\(statistics.operations)",
          "failed_transactions": "\(statistics.failedTransactions)", "pruned": "\(statistics.pruned)",
        ])
    } else {
      logger.info("store closed")
    }
  }
}
