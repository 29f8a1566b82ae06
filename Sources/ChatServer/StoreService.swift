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
    logger.info("store closed")
  }
}
