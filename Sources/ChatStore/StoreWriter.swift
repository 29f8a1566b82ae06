import Dispatch
import Foundation
import GRDB
import Logging
import Synchronization

/// Group commit: callers queue operations (a lock held for an array append),
/// one writer thread takes everything queued and commits it in one
/// transaction, then completes each submission's acknowledgement. While the
/// writer commits one batch the next one accumulates, so the busier the
/// server, the more each commit carries.
///
/// A thread rather than a task: SQLite blocks, and a blocked task would hold
/// one of the cooperative pool's threads (there are two on this machine).
final class StoreWriter: Sendable {
  private enum Entry {
    case operations([StoreOperation], Acknowledgement)
    /// Runs on the writer thread between batches (tests, pragmas).
    case control(@Sendable (Database) throws -> Void, Acknowledgement)
  }

  /// What callers and the writer share; each mutating method returns what
  /// its caller must do once the lock is released.
  private struct Queue {
    var entries: [Entry] = []
    /// The writer waits on `wake`; whoever queues work while it is parked
    /// signals it, once.
    var parked = false
    var closing = false
    /// Set by a failed commit: submissions are refused at once until
    /// `retryAt`, then one batch is let through to try the disk again.
    var failure: (error: StoreError, retryAt: ContinuousClock.Instant)?
    let retryInterval: Duration

    enum Submitted {
      case queued(wake: Bool)
      case refused(StoreError)
    }

    mutating func submit(_ entry: Entry) -> Submitted {
      if closing { return .refused(.closed) }
      if case .operations = entry, let current = failure {
        let now = ContinuousClock.now
        guard now >= current.retryAt else { return .refused(current.error) }
        failure = (current.error, now + retryInterval)  // one trial batch per interval
      }
      entries.append(entry)
      defer { parked = false }
      return .queued(wake: parked)
    }

    enum Next {
      case work([Entry])
      case park
      case stop
    }

    mutating func next() -> Next {
      if !entries.isEmpty {
        defer { entries = [] }
        return .work(entries)
      }
      if closing { return .stop }
      parked = true
      return .park
    }

    /// Records a failed commit; returns the acknowledgements of operations
    /// queued meanwhile, to fail without trying them.
    mutating func failed(_ error: StoreError) -> [Acknowledgement] {
      failure = (error, ContinuousClock.now + retryInterval)
      var refused: [Acknowledgement] = []
      entries.removeAll { entry in
        guard case .operations(_, let acknowledgement) = entry else { return false }
        refused.append(acknowledgement)
        return true
      }
      return refused
    }

    /// Records a commit; true if it ends a failure.
    mutating func committed() -> Bool {
      defer { failure = nil }
      return failure != nil
    }

    /// true if the writer is parked and must be woken to finish.
    mutating func close() -> Bool {
      closing = true
      defer { parked = false }
      return parked
    }
  }

  private let queue: Mutex<Queue>
  private let wake = DispatchSemaphore(value: 0)
  /// Completed by the writer thread as it exits.
  private let finished = Acknowledgement()
  private let database: DatabaseQueue
  private let retention: Retention
  private let logger: Logger

  private let transactions = Atomic<Int>(0)
  private let operationsCommitted = Atomic<Int>(0)
  private let failedTransactions = Atomic<Int>(0)
  private let pruned = Atomic<Int>(0)

  init(database: DatabaseQueue, configuration: SQLiteStore.Configuration, logger: Logger) {
    self.database = database
    self.retention = configuration.retention
    self.logger = logger
    self.queue = Mutex(Queue(retryInterval: configuration.retryInterval))
    let thread = Thread { [self] in run() }
    thread.name = "chat-store-writer"
    thread.start()
  }

  func submit(_ operations: [StoreOperation]) -> Acknowledgement {
    let submission = enqueue(operations)
    if submission.needsWake { wakeWriter() }
    return submission.acknowledgement
  }

  func enqueue(_ operations: [StoreOperation]) -> StoreSubmission {
    let acknowledgement = Acknowledgement()
    switch queue.withLock({ $0.submit(.operations(operations, acknowledgement)) }) {
    case .queued(let wakeWriter):
      return StoreSubmission(acknowledgement: acknowledgement, needsWake: wakeWriter)
    case .refused(let error):
      return StoreSubmission(acknowledgement: .failed(error), needsWake: false)
    }
  }

  func wakeWriter() {
    wake.signal()
  }

  func control(_ body: @escaping @Sendable (Database) throws -> Void) -> Acknowledgement {
    let acknowledgement = Acknowledgement()
    switch queue.withLock({ $0.submit(.control(body, acknowledgement)) }) {
    case .queued(let wakeWriter):
      if wakeWriter { wake.signal() }
      return acknowledgement
    case .refused(let error):
      return .failed(error)
    }
  }

  /// Commits what is queued, then stops the writer thread.
  func close() async {
    if queue.withLock({ $0.close() }) { wake.signal() }
    do {
      try await finished.wait(timeout: .seconds(60))
    } catch {
      logger.error("store writer did not stop", metadata: ["error": "\(error)"])
    }
  }

  var statistics: StoreStatistics {
    StoreStatistics(
      transactions: transactions.load(ordering: .relaxed),
      operations: operationsCommitted.load(ordering: .relaxed),
      failedTransactions: failedTransactions.load(ordering: .relaxed),
      pruned: pruned.load(ordering: .relaxed))
  }

  // MARK: The writer thread

  private func run() {
    // Each channel's message count, for retention: counted the first time
    // the channel is written to after startup (counting every channel at
    // startup took seconds with a million rows). Only this thread reads or
    // writes it: no lock.
    var counts: [String: Int] = [:]
    loop: while true {
      switch queue.withLock({ $0.next() }) {
      case .park:
        // Woken by the next submission; the timeout only re-checks the queue.
        _ = wake.wait(timeout: .now() + 1)
      case .stop:
        break loop
      case .work(let entries):
        var operations: [StoreOperation] = []
        var acknowledgements: [Acknowledgement] = []
        for entry in entries {
          switch entry {
          case .operations(let batch, let acknowledgement):
            operations.append(contentsOf: batch)
            acknowledgements.append(acknowledgement)
          case .control(let body, let acknowledgement):
            commit(operations, acknowledgements, &counts)
            operations = []
            acknowledgements = []
            do {
              try database.inDatabase(body)
              acknowledgement.complete(nil)
            } catch {
              acknowledgement.complete(.unavailable("\(error)"))
            }
          }
        }
        commit(operations, acknowledgements, &counts)
      }
    }
    finished.complete(nil)
  }

  private func commit(
    _ operations: [StoreOperation], _ acknowledgements: [Acknowledgement], _ counts: inout [String: Int]
  ) {
    guard !acknowledgements.isEmpty else { return }
    // Counts change only if the transaction commits.
    var newCounts = counts
    var deleted = 0
    do {
      try database.inDatabase { db in
        try db.inTransaction(.immediate) {
          var grown: Set<String> = []
          for operation in operations {
            if case .log(let record) = operation, record.kind == .message {
              // Counted before the row goes in.
              if newCounts[record.channel] == nil {
                newCounts[record.channel] = try messageCount(record.channel, db)
              }
              newCounts[record.channel, default: 0] += 1
              grown.insert(record.channel)
            }
            try apply(operation, db)
          }
          for channel in grown where newCounts[channel, default: 0] > retention.messagesPerChannel + retention.slack {
            deleted += try prune(channel, db)
            newCounts[channel] = retention.messagesPerChannel
          }
          return .commit
        }
      }
    } catch {
      let storeError = StoreError.unavailable(Self.describe(error))
      let refused = queue.withLock { $0.failed(storeError) }
      failedTransactions.add(1, ordering: .relaxed)
      logger.error(
        "store write failed: failing its callers until a write succeeds",
        metadata: [
          "error": "\(Self.describe(error))", "operations": "\(operations.count)",
          "refused": "\(refused.count)",
        ])
      for acknowledgement in acknowledgements + refused { acknowledgement.complete(storeError) }
      return
    }
    counts = newCounts
    transactions.add(1, ordering: .relaxed)
    operationsCommitted.add(operations.count, ordering: .relaxed)
    pruned.add(deleted, ordering: .relaxed)
    if queue.withLock({ $0.committed() }) { logger.notice("store writable again") }
    for acknowledgement in acknowledgements { acknowledgement.complete(nil) }
  }

  private func apply(_ operation: StoreOperation, _ db: Database) throws {
    switch operation {
    case .log(let record):
      try db.cachedStatement(sql: "INSERT INTO log (seq, channel, kind, time, payload) VALUES (?, ?, ?, ?, ?)")
        .execute(arguments: [
          Int64(record.seq), record.channel, record.kind.rawValue, microseconds(record.time), record.payload,
        ])
    case .putAccount(let account):
      try db.cachedStatement(sql: "INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?)")
        .execute(arguments: [account.nameKey, account.display, account.passwordHash, microseconds(account.created)])
    case .deleteAccount(let name):
      for table in ["accounts WHERE name_key", "tokens WHERE account", "memberships WHERE account", "positions WHERE account"] {
        try db.cachedStatement(sql: "DELETE FROM \(table) = ?").execute(arguments: [name])
      }
    case .putToken(let token):
      try db.cachedStatement(sql: "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)")
        .execute(arguments: [token.hash, token.account, microseconds(token.expires)])
    case .deleteToken(let hash):
      try db.cachedStatement(sql: "DELETE FROM tokens WHERE hash = ?").execute(arguments: [hash])
    case .putGroup(let group):
      try db.cachedStatement(sql: "INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?)")
        .execute(arguments: [group.key, group.display, group.permanent, Int64(group.createdSeq)])
    case .deleteGroup(let key):
      try db.cachedStatement(sql: "DELETE FROM groups WHERE key = ?").execute(arguments: [key])
    case .addMember(let group, let account, let since):
      try db.cachedStatement(sql: "INSERT OR IGNORE INTO memberships VALUES (?, ?, ?, NULL)")
        .execute(arguments: [group, account, Int64(since)])
    case .deleteChannel(let channel):
      try db.cachedStatement(sql: "DELETE FROM log WHERE channel = ?").execute(arguments: [channel])
    case .endMember(let group, let account, let until):
      try db.cachedStatement(
        sql: "UPDATE memberships SET until = ? WHERE group_key = ? AND account = ? AND until IS NULL"
      ).execute(arguments: [Int64(until), group, account])
    case .setPosition(let account, let seq):
      try db.cachedStatement(
        sql: "INSERT INTO positions VALUES (?, ?) ON CONFLICT (account) DO UPDATE SET seq = excluded.seq"
      ).execute(arguments: [account, Int64(seq)])
    }
  }

  /// The messages the channel holds (before this transaction's own rows are inserted).
  private func messageCount(_ channel: String, _ db: Database) throws -> Int {
    try Int.fetchOne(
      db.cachedStatement(sql: "SELECT count(*) FROM log WHERE channel = ? AND kind = ?"),
      arguments: [channel, LogRecord.Kind.message.rawValue]) ?? 0
  }

  /// Deletes what the channel logged before its newest `messagesPerChannel`
  /// messages; returns how many rows went.
  private func prune(_ channel: String, _ db: Database) throws -> Int {
    try db.cachedStatement(
      sql: """
        DELETE FROM log WHERE channel = ?1 AND seq < (
          SELECT seq FROM log WHERE channel = ?1 AND kind = ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3)
        """
    ).execute(arguments: [channel, LogRecord.Kind.message.rawValue, retention.messagesPerChannel - 1])
    return db.changesCount
  }

  /// SQLite's sentence for the error ("database or disk is full", …).
  private static func describe(_ error: any Error) -> String {
    if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
    return "\(error)"
  }
}
