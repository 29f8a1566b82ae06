import GRPCCore
import Synchronization

/// The health statuses and the open Watch calls, safe to use from any task:
/// the state lives in a `Mutex`, and Watch calls are woken only after it is
/// released.
///
/// A wake-up carries no status: the woken call reads the current one. Two
/// changes made one after the other under the lock can wake a call in either
/// order once outside it; reading at wake-up time means the last read is
/// always the last status, whatever the order.
final class HealthStatusTable: Sendable {
  private let state = Mutex(HealthState())

  func status(ofService service: String) -> ServingStatus? {
    state.withLock { $0.status(ofService: service) }
  }

  var allStatuses: [String: ServingStatus] { state.withLock { $0.allStatuses } }

  /// Open Watch calls (for tests).
  var watcherCount: Int { state.withLock { $0.watcherCount } }

  func setStatus(_ status: ServingStatus?, forService service: String) {
    let delivery = state.withLock { $0.setStatus(status, forService: service) }
    delivery?.deliver()
  }

  func shutDown() {
    let delivery = state.withLock { $0.shutDown() }
    delivery?.deliver()
  }

  /// A Watch call: `send`s the current status (SERVICE_UNKNOWN if none),
  /// then every status that differs from the last one sent. Returns once the
  /// table shuts down (after sending NOT_SERVING), or when the RPC or the
  /// calling task is cancelled.
  func watch(
    _ service: String, send: (WatchedStatus) async throws -> Void
  ) async throws {
    // One pending wake-up is enough: the woken call reads the latest status.
    let (wakeUps, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let (id, initial) = state.withLock { $0.addWatcher(wakeUp, forService: service) }
    defer {
      if let id { state.withLock { $0.removeWatcher(id, forService: service) } }
    }

    // gRPC ends a call (client gone, deadline, connection closed) through
    // its RPC cancellation handle, not by cancelling the handler's task:
    // either ends the wake-ups, and so the watch.
    try await withRPCCancellationHandler {
      var sent = initial
      try await send(initial)
      guard id != nil else { return }
      // Ends when shutDown() or a cancellation finishes the stream.
      for await _ in wakeUps {
        let status = state.withLock { $0.watchedStatus(ofService: service) }
        guard status != sent else { continue }
        sent = status
        try await send(status)
      }
    } onCancelRPC: {
      wakeUp.finish()
    }
  }
}
