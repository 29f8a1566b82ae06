import Logging
import ServiceLifecycle

/// The registry as a service of the server's group: it runs the presence
/// timer (offline announcements after `--presence-grace`), and when graceful shutdown
/// begins it refuses new sessions and calls (UNAVAILABLE) and ends every open
/// session with UNAVAILABLE, before the front ends after it in the group are
/// shut down (the group shuts services down in reverse order).
public struct RegistryService: Service {
  let registry: ChatRegistry
  /// Called as shutdown begins, before sessions end (health goes NOT_SERVING).
  let onShutdown: @Sendable () -> Void

  public init(registry: ChatRegistry, onShutdown: @escaping @Sendable () -> Void = {}) {
    self.registry = registry
    self.onShutdown = onShutdown
  }

  public func run() async throws {
    // The presence timer runs until shutdown begins.
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await registry.runPresenceTimer() }
      try? await gracefulShutdown()
      group.cancelAll()
    }
    onShutdown()
    registry.shutdown()
  }
}
