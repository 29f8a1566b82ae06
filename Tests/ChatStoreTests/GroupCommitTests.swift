import Dispatch
import Foundation
import GRDB
import Synchronization
import Testing

@testable import ChatStore

@Suite("SQLite store: group commit, failures, retention")
struct GroupCommitTests {
  @Test("records queued before a flush are written by one caller in one write, in order")
  func batches() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory)
    let before = store.statistics
    // What the registry does under its lock: queue, without writing.
    let submissions = (1...1000).map { store.enqueue([.log(message(UInt64($0), "g\($0 % 7)"))]) }
    #expect(submissions.allSatisfy { $0.needsWake && $0.acknowledgement === submissions[0].acknowledgement })
    #expect(submissions[0].acknowledgement.outcome == nil)
    // What it does after releasing it: one caller writes everything queued.
    store.wakeWriter()
    #expect(submissions[0].acknowledgement.outcome.map { (try? $0.get()) != nil } == true)
    let after = store.statistics
    #expect(after.logWrites - before.logWrites == 1)
    #expect(after.logRecords - before.logRecords == 1000)
    #expect(after.transactions == before.transactions)
    #expect(try store.load().log.map(\.seq) == Array(1...1000))
    await store.close()
  }

  @Test(
    "appends from many concurrent callers are each written once and all acknowledged",
    // .machine: callers leave their records to the one writing and sleep (one sync for many).
    arguments: [SQLiteStore.Configuration.Durability.process, .machine])
  func concurrentCallersShare(_ durability: SQLiteStore.Configuration.Durability) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory) { $0.durability = durability }
    let count = 4000
    try await withThrowingTaskGroup(of: Void.self) { group in
      for caller in 0..<8 {
        group.addTask {
          for index in stride(from: caller + 1, through: count, by: 8) {
            try await store.append([message(UInt64(index), "g\(caller)")]).committed()
          }
        }
      }
      try await group.waitForAll()
    }
    let statistics = store.statistics
    #expect(statistics.logRecords == count)
    #expect(statistics.logWrites <= count)
    #expect(try store.load().log.map(\.seq) == Array(1...UInt64(count)))
    await store.close()
  }

  @Test("with process durability each record is written by the time its caller's wake returns, with 8 callers at once")
  func writtenOnReturn() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory)
    let count = 4000
    let unwritten = await withTaskGroup(of: Int.self) { group in
      for caller in 0..<8 {
        group.addTask {
          var unwritten = 0
          for index in stride(from: caller + 1, through: count, by: 8) {
            // What the registry and then SendMessage's handler do.
            let submission = store.enqueue([.log(message(UInt64(index), "g\(caller)"))])
            store.wakeWriter()
            if !submission.needsWake || submission.acknowledgement.outcome == nil { unwritten += 1 }
          }
          return unwritten
        }
      }
      return await group.reduce(0, +)
    }
    // None would have slept on its acknowledgement.
    #expect(unwritten == 0)
    #expect(try store.load().log.map(\.seq) == Array(1...UInt64(count)))
    await store.close()
  }

  @Test("submissions within one commit window share one acknowledgement and one transaction")
  func commitWindow() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    // A window far longer than the waits below: only a full batch can end it.
    let store = try openStore(directory) {
      $0.commitWindow = .seconds(600)
      $0.maxBatchOperations = 50
    }
    // An idle writer commits at once; that commit opens a window.
    try await store.submit([position(1)]).committed()
    let before = store.statistics
    let queued = (2...50).map { store.submit([position(UInt64($0))]) }
    #expect(queued.allSatisfy { $0 === queued[0] })
    #expect(queued[0].outcome == nil)
    #expect(store.statistics == before)
    // The 50th operation fills the batch: the writer commits at once.
    let last = store.submit([position(51)])
    #expect(last === queued[0])
    try await last.committed()
    let after = store.statistics
    #expect(after.transactions - before.transactions == 1)
    #expect(after.operations - before.operations == 50)
    // The next window has its own acknowledgement.
    let next = store.submit([position(52)])
    #expect(next !== last)
    #expect(next.outcome == nil)
    // Close does not wait for the window: what is queued is committed.
    await store.close()
    try await next.committed()
    let reopened = try openStore(directory)
    #expect(try reopened.load().positions.count == 52)
    await reopened.close()
  }

  @Test("a control entry runs without waiting for the window, after the batch queued before it")
  func controlEntryEndsWindow() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory) { $0.commitWindow = .seconds(600) }
    try await store.submit([position(1)]).committed()
    let queued = store.submit([position(2), position(3)])
    #expect(queued.outcome == nil)
    let count = Mutex(-1)
    try await store.runOnWriter { db in
      let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM positions") ?? 0
      count.withLock { $0 = rows }
    }.committed()
    #expect(count.withLock { $0 } == 3)
    try await queued.committed()
    await store.close()
  }

  @Test("every waiter of a shared acknowledgement is resumed; a cancelled one leaves the others waiting")
  func sharedAcknowledgementWaiters() async throws {
    let pending = Acknowledgement()
    let waiters = (0..<100).map { _ in Task { try await pending.committed() } }
    let cancelled = Task { try await pending.committed() }
    cancelled.cancel()
    await #expect(throws: CancellationError.self) { try await cancelled.value }
    #expect(pending.outcome == nil)
    pending.complete(nil)
    for waiter in waiters { try await waiter.value }
    // Completed: a later wait returns at once; a second completion is ignored.
    pending.complete(.closed)
    try await pending.committed()

    let failing = Acknowledgement()
    let failed = (0..<10).map { _ in Task { try await failing.committed() } }
    failing.complete(.unavailable("disk full"))
    for waiter in failed {
      await #expect(throws: StoreError.unavailable("disk full")) { try await waiter.value }
    }
  }

  @Test("a full database fails the batch's acknowledgements and later submissions, logs it, and recovers")
  func writeFailureAndRecovery() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let (logger, logs) = testLogger()
    // An interval no test run outlasts: the test ends it with retryNow().
    let store = try openStore(directory, logger: logger) { $0.retryInterval = .seconds(600) }
    try await store.submit([account(1)]).committed()
    let pages = try await store.database.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
    // What a full disk looks like to SQLite: no page can be added.
    try await store.runOnWriter { db in try db.execute(sql: "PRAGMA max_page_count = \(pages)") }.committed()

    let big = (2...200).map { account($0, hashBytes: 4000) }
    let failed = store.submit(big)
    await #expect(throws: StoreError.self) { try await failed.committed() }
    guard case .failure(.unavailable(let reason)) = failed.outcome else {
      Issue.record("expected unavailable, got \(String(describing: failed.outcome))")
      return
    }
    #expect(reason.contains("full"), "\(reason)")
    #expect(StoreError.unavailable(reason).message.contains("cannot be written"))
    #expect(logs.entries.contains { $0.level == .error && $0.message.description.contains("store write failed") })
    // Refused at once while the store is failing.
    let refused = store.submit([account(201)])
    #expect(refused.outcome.map { (try? $0.get()) == nil } == true)
    #expect(store.statistics.failedTransactions == 1)

    // Room again; once the retry interval is over a submission is tried and commits.
    try await store.runOnWriter { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }.committed()
    #expect(store.submit([account(202)]).outcome.map { (try? $0.get()) == nil } == true)
    store.retryNow()
    try await store.submit([account(202)]).committed()
    #expect(logs.entries.contains { $0.message.description == "store writable again" })
    // What was acknowledged is there; what failed is not.
    #expect(try store.load().accounts.map(\.nameKey) == ["a1", "a202"])
    await store.close()
  }

  @Test("a full message log fails the write's acknowledgements and later appends, logs it, keeps nothing of them, and recovers")
  func logFullAndRecovery() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let (logger, logs) = testLogger()
    let store = try openStore(directory, logger: logger) { $0.retryInterval = .seconds(600) }
    try await store.append([message(1)]).committed()
    store.log.setLimit(store.statistics.logBytes + 1000)
    let big = (2...20).map { message(UInt64($0), text: String(repeating: "x", count: 4000)) }
    let failed = store.append(big)
    guard case .failure(.unavailable(let reason)) = failed.outcome else {
      Issue.record("expected unavailable, got \(String(describing: failed.outcome))")
      return
    }
    #expect(reason.contains("full"), "\(reason)")
    #expect(logs.entries.contains { $0.level == .error && $0.message.description.contains("message log write failed") })
    let refused = store.append([message(21)])
    #expect(refused.outcome.map { (try? $0.get()) == nil } == true)
    #expect(store.statistics.failedLogWrites == 1)

    store.log.setLimit(nil)
    #expect(store.append([message(21)]).outcome.map { (try? $0.get()) == nil } == true)
    store.retryNow()
    try await store.append([message(22)]).committed()
    #expect(logs.entries.contains { $0.message.description == "message log writable again" })
    #expect(try store.load().log.map(\.seq) == [1, 22])
    await store.close()
    let reopened = try openStore(directory)
    #expect(try reopened.load().log.map(\.seq) == [1, 22])
    await reopened.close()
  }

  @Test("appends after close fail with closed; what was queued before close is committed")
  func closeDrains() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory)
    let queued = (1...100).map { store.append([message(UInt64($0))]) }
    await store.close()
    for acknowledgement in queued { try await acknowledgement.committed() }
    #expect(store.append([message(101)]).outcome.map { (try? $0.get()) == nil } == true)
    let reopened = try openStore(directory)
    #expect(try reopened.load().log.count == 100)
    await reopened.close()
  }

  @Test("retention keeps the newest N messages per channel and the member events since the oldest of them")
  func retention() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let retention = Retention(messagesPerChannel: 3, slack: 0)
    let store = try openStore(directory) { $0.retention = retention }
    let memory = InMemoryStore(retention: retention)
    var records: [LogRecord] = []
    var seq: UInt64 = 0
    for round in 0..<10 {
      seq += 1
      records.append(round % 3 == 0 ? memberEvent(seq, "a", .memberJoined) : message(seq, "a"))
      seq += 1
      records.append(message(seq, "a"))
      if round < 2 {
        seq += 1
        records.append(message(seq, "b"))
      }
    }
    // Several commits, so pruning happens across batches.
    for chunk in stride(from: 0, to: records.count, by: 5) {
      let part = Array(records[chunk..<min(chunk + 5, records.count)])
      try await store.append(part).committed()
      try await memory.append(part).committed()
    }
    let channelA = try store.load().log.filter { $0.channel == "a" }
    let messagesA = records.filter { $0.channel == "a" && $0.kind == .message }
    let oldestKept = messagesA.suffix(3).first!.seq
    #expect(channelA == records.filter { $0.channel == "a" && $0.seq >= oldestKept })
    #expect(try store.load().log.filter { $0.channel == "b" }.count == 2)
    #expect(try store.load().log == memory.load().log)
    #expect(store.statistics.pruned > 0)
    await store.close()

    // Counts are rebuilt at startup: the next message trims again.
    let reopened = try openStore(directory) { $0.retention = retention }
    seq += 1
    try await reopened.append([message(seq, "a")]).committed()
    #expect(try reopened.load().log.filter { $0.channel == "a" && $0.kind == .message }.count == 3)
    await reopened.close()
  }

  @Test("with slack, a channel is trimmed in batches back to N")
  func retentionSlack() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory) { $0.retention = Retention(messagesPerChannel: 10, slack: 5) }
    try await store.append((1...15).map { message($0) }).committed()
    let first = try store.load().log.map(\.seq)
    #expect(first == Array(1...15))
    try await store.append([message(16)]).committed()
    let second = try store.load().log.map(\.seq)
    #expect(second == Array(7...16))
    await store.close()
  }
}
