/// What a Watch stream sends: the watched service's status, or
/// `.serviceUnknown` while it has none.
typealias WatchedStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

/// Wakes one Watch call: "the status may have changed, read it again".
typealias WatchWakeUp = AsyncStream<Void>.Continuation

/// The health service's statuses and the open Watch calls, kept by
/// `HealthStatusTable` behind its lock.
///
/// Mutating methods only decide: they return the `WatchDelivery` the caller
/// makes once the lock is released, because waking a Watch call's stream
/// resumes its task.
struct HealthState {
  private var statuses: [String: ServingStatus] = [:]
  private var watchers: [String: [Int: WatchWakeUp]] = [:]
  private var nextWatcherID = 0
  /// Set by `shutDown()`; from then on every status is NOT_SERVING and stays so.
  private(set) var isShutDown = false

  func status(ofService service: String) -> ServingStatus? {
    statuses[service]
  }

  func watchedStatus(ofService service: String) -> WatchedStatus {
    statuses[service]?.proto ?? .serviceUnknown
  }

  /// Every service with a status, for the List call.
  var allStatuses: [String: ServingStatus] { statuses }

  var watcherCount: Int { watchers.values.reduce(0) { $0 + $1.count } }

  /// Sets (or, with nil, forgets) a service's status; the Watch calls to
  /// wake, if it changed. Ignored once shut down, so a late SERVING cannot
  /// undo the shutdown's NOT_SERVING.
  mutating func setStatus(_ status: ServingStatus?, forService service: String) -> WatchDelivery? {
    guard !isShutDown, statuses[service] != status else { return nil }
    statuses[service] = status
    guard let wakeUps = watchers[service]?.values, !wakeUps.isEmpty else { return nil }
    return WatchDelivery(wakeUps: Array(wakeUps), finish: false)
  }

  /// Registers a Watch call and reads its first status in the same critical
  /// section, so every later change wakes it. Once shut down nothing is
  /// registered (`id` is nil): the call sends its one status and ends.
  mutating func addWatcher(_ wakeUp: WatchWakeUp, forService service: String) -> (id: Int?, initial: WatchedStatus) {
    let initial = watchedStatus(ofService: service)
    guard !isShutDown else { return (nil, initial) }
    let id = nextWatcherID
    nextWatcherID += 1
    watchers[service, default: [:]][id] = wakeUp
    return (id, initial)
  }

  mutating func removeWatcher(_ id: Int, forService service: String) {
    watchers[service]?[id] = nil
    if watchers[service]?.isEmpty == true { watchers[service] = nil }
  }

  /// Marks every service NOT_SERVING and hands back every Watch call to wake
  /// (to send the change) and end: an open Watch would otherwise keep the
  /// server's graceful shutdown waiting.
  mutating func shutDown() -> WatchDelivery? {
    guard !isShutDown else { return nil }
    isShutDown = true
    for service in statuses.keys { statuses[service] = .notServing }
    defer { watchers = [:] }
    return WatchDelivery(wakeUps: watchers.values.flatMap(\.values), finish: true)
  }
}

/// Watch calls to wake, and whether to end their streams; done after the
/// lock is released.
struct WatchDelivery: Sendable {
  let wakeUps: [WatchWakeUp]
  let finish: Bool

  func deliver() {
    for wakeUp in wakeUps {
      wakeUp.yield()
      if finish { wakeUp.finish() }
    }
  }
}
