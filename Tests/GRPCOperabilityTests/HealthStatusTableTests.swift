import Testing

@testable import GRPCOperability

/// The health service's status table, used directly (no server).
@Suite struct HealthStatusTableTests {
  @Test func statusesAreSetReadAndCleared() {
    let health = HealthService()
    #expect(health.status(forService: "") == nil)
    health.setStatus(.serving, forService: "")
    health.setStatus(.notServing, forService: "chat.v1.ChatService")
    #expect(health.status(forService: "") == .serving)
    #expect(health.status(forService: "chat.v1.ChatService") == .notServing)
    health.clearStatus(forService: "chat.v1.ChatService")
    #expect(health.status(forService: "chat.v1.ChatService") == nil)
    #expect(health.table.allStatuses == ["": .serving])
  }

  @Test func aWatchGetsTheStatusThenEachChange() async throws {
    let table = HealthStatusTable()
    table.setStatus(.serving, forService: "a")
    let watch = Watch(table, "a")
    #expect(try await watch.next() == .serving)

    table.setStatus(.serving, forService: "a")  // no change: nothing sent
    table.setStatus(.notServing, forService: "a")
    #expect(try await watch.next() == .notServing)
    table.setStatus(nil, forService: "a")
    #expect(try await watch.next() == .serviceUnknown)
    table.setStatus(.serving, forService: "b")  // another service
    table.setStatus(.serving, forService: "a")
    #expect(try await watch.next() == .serving)
    try await watch.cancel()
    #expect(table.watcherCount == 0)
  }

  @Test func anUnknownServiceIsServiceUnknownUntilItHasAStatus() async throws {
    let table = HealthStatusTable()
    let watch = Watch(table, "later")
    #expect(try await watch.next() == .serviceUnknown)
    table.setStatus(.notServing, forService: "later")
    #expect(try await watch.next() == .notServing)
    try await watch.cancel()
  }

  @Test func shutDownSendsNotServingAndEndsEveryWatch() async throws {
    let table = HealthStatusTable()
    table.setStatus(.serving, forService: "")
    table.setStatus(.serving, forService: "a")
    let server = Watch(table, "")
    let a = Watch(table, "a")
    let unknown = Watch(table, "unknown")
    #expect(try await server.next() == .serving)
    #expect(try await a.next() == .serving)
    #expect(try await unknown.next() == .serviceUnknown)
    #expect(table.watcherCount == 3)

    table.shutDown()
    #expect(try await server.next() == .notServing)
    #expect(try await a.next() == .notServing)
    // Each watch ends by itself (returns, rather than being cancelled).
    for watch in [server, a, unknown] { #expect(try await watch.next() == nil) }
    #expect(table.watcherCount == 0)
    #expect(table.allStatuses == ["": .notServing, "a": .notServing])

    // For good: a late SERVING is ignored, a new watch sends one status and ends.
    table.setStatus(.serving, forService: "a")
    #expect(table.status(ofService: "a") == .notServing)
    let late = Watch(table, "a")
    #expect(try await late.next() == .notServing)
    #expect(try await late.next() == nil)
    #expect(table.watcherCount == 0)
  }

  /// Many concurrent changes: the watch never sends the same status twice in
  /// a row (it may skip some) and ends on the shutdown's NOT_SERVING.
  @Test func aWatchUnderConcurrentChanges() async throws {
    let table = HealthStatusTable()
    table.setStatus(.serving, forService: "a")
    let watch = Watch(table, "a")
    #expect(try await watch.next() == .serving)
    await withTaskGroup(of: Void.self) { group in
      for i in 0..<8 {
        group.addTask {
          for j in 0..<500 { table.setStatus((i + j) % 2 == 0 ? .serving : .notServing, forService: "a") }
        }
      }
    }
    table.setStatus(.notServing, forService: "a")
    table.setStatus(.serving, forService: "a")
    table.shutDown()
    var seen: [WatchedStatus] = [.serving]
    while let status = try await watch.next() { seen.append(status) }
    #expect(seen.last == .notServing)
    #expect(zip(seen, seen.dropFirst()).allSatisfy { $0 != $1 })
  }
}

/// One `HealthStatusTable.watch` running in its own task; what it sends,
/// one at a time, each wait bounded.
private final class Watch: Sendable {
  private let received: Received
  private let task: Task<Void, any Error>

  init(_ table: HealthStatusTable, _ service: String) {
    let (statuses, continuation) = AsyncStream.makeStream(of: WatchedStatus.self)
    received = Received(statuses)
    task = Task {
      defer { continuation.finish() }
      try await table.watch(service) { continuation.yield($0) }
    }
  }

  /// The next status sent; nil once the watch has returned.
  func next() async throws -> WatchedStatus? {
    try await withTimeout(5, "a watched status") { [received] in await received.next() }
  }

  /// Cancels the watch and waits for it to return.
  func cancel() async throws {
    task.cancel()
    try await withTimeout(5, "the watch to end") { [task] in try await task.value }
  }

  private actor Received {
    private var iterator: AsyncStream<WatchedStatus>.Iterator
    init(_ stream: AsyncStream<WatchedStatus>) { iterator = stream.makeAsyncIterator() }
    func next() async -> WatchedStatus? {
      // Out of the property for the await (one caller at a time here).
      var iterator = self.iterator
      defer { self.iterator = iterator }
      return await iterator.next(isolation: self)
    }
  }
}
