import Dispatch
import Foundation
import GRDB
import Logging
import Synchronization

/// Group commit with a commit window: callers queue operations (a lock held
/// for an array append), and one writer thread commits everything queued in
/// one transaction, then completes the batch's one acknowledgement. Commits
/// start at most once per `commitWindow`: what is queued while the writer
/// commits, or within the window after a commit started, waits for the
/// window's end, and no submission wakes the writer meanwhile (only a full
/// batch of `maxBatchOperations` does). A submission that finds the writer
/// idle (its last window over) wakes it and is committed at once. So a busy
/// server pays one timed wake-up, one transaction and one round of resumes
/// per window, not per message, and an operation waits at most one window
/// before its commit starts.
///
/// A thread rather than a task: SQLite blocks, and a blocked task would hold
/// one of the cooperative pool's threads (there are two on this machine).
final class StoreWriter: Sendable {
  private enum Entry {
    /// One batch: the operations of every submission of one window, in
    /// order, and the acknowledgement they share.
    case operations([StoreOperation], Acknowledgement)
    /// Runs on the writer thread between batches (tests, pragmas).
    case control(@Sendable (Database) throws -> Void, Acknowledgement)
  }

  /// What the writer is doing, so that a submitter knows whether to signal it.
  private enum WriterState {
    /// Taking or committing a batch: it looks at the queue again afterwards.
    case working
    /// Waiting for the last commit's window to end (a timed wait): only a
    /// full batch, a control entry or `close` signals it.
    case windowing
    /// Nothing queued and the window over: the next submission signals it.
    case parked
  }

  /// What callers and the writer share; each mutating method returns what
  /// its caller must do once the lock is released.
  private struct Queue {
    /// Batches closed by a control entry, and control entries, in order.
    var entries: [Entry] = []
    /// The batch being filled, and the acknowledgement its submitters share.
    var open: (operations: [StoreOperation], acknowledgement: Acknowledgement)?
    /// Operations in `entries` and `open`.
    var queuedOperations = 0
    /// When the window of the last commit ends: until then nothing queued
    /// is committed (unless the batch is full, a control entry waits, or the
    /// store closes). nil once the writer parked.
    var windowEnd: DispatchTime?
    var writer = WriterState.working
    var closing = false
    /// Set by a failed commit: submissions are refused at once until
    /// `retryAt`, then one batch is let through to try the disk again.
    var failure: (error: StoreError, retryAt: ContinuousClock.Instant)?
    let retryInterval: Duration
    let window: UInt64
    let maxBatch: Int

    enum Submitted {
      case queued(Acknowledgement, wake: Bool)
      case refused(StoreError)
    }

    mutating func submit(_ operations: [StoreOperation]) -> Submitted {
      if closing { return .refused(.closed) }
      if let current = failure {
        let now = ContinuousClock.now
        guard now >= current.retryAt else { return .refused(current.error) }
        failure = (current.error, now + retryInterval)  // one trial batch per interval
      }
      queuedOperations += operations.count
      let acknowledgement: Acknowledgement
      if open == nil {
        acknowledgement = Acknowledgement()
        open = (operations, acknowledgement)
      } else {
        acknowledgement = open!.acknowledgement
        open!.operations.append(contentsOf: operations)
      }
      let wake = writer == .parked || (writer == .windowing && queuedOperations >= maxBatch)
      if wake { writer = .working }
      return .queued(acknowledgement, wake: wake)
    }

    /// Queues a control entry; it is run without waiting for the window.
    mutating func control(_ body: @escaping @Sendable (Database) throws -> Void) -> Submitted {
      if closing { return .refused(.closed) }
      closeBatch()
      let acknowledgement = Acknowledgement()
      entries.append(.control(body, acknowledgement))
      return .queued(acknowledgement, wake: urge())
    }

    private mutating func closeBatch() {
      guard let batch = open else { return }
      entries.append(.operations(batch.operations, batch.acknowledgement))
      open = nil
    }

    /// true if the writer is waiting and must be signalled to act now.
    private mutating func urge() -> Bool {
      guard writer != .working else { return false }
      writer = .working
      return true
    }

    enum Next {
      case work([Entry])
      /// Wait until the window ends (or a signal).
      case wait(until: DispatchTime)
      case park
      case stop
    }

    mutating func next(now: DispatchTime) -> Next {
      let urgent = closing || !entries.isEmpty || queuedOperations >= maxBatch
      if let end = windowEnd, now < end, !urgent {
        writer = .windowing
        return .wait(until: end)
      }
      guard open != nil || !entries.isEmpty else {
        if closing { return .stop }
        writer = .parked
        windowEnd = nil
        return .park
      }
      writer = .working
      windowEnd = DispatchTime(uptimeNanoseconds: now.uptimeNanoseconds + window)
      closeBatch()
      defer {
        entries = []
        queuedOperations = 0
      }
      return .work(entries)
    }

    /// Records a failed commit; returns the acknowledgements of operations
    /// queued meanwhile, to fail without trying them.
    mutating func failed(_ error: StoreError) -> [Acknowledgement] {
      failure = (error, ContinuousClock.now + retryInterval)
      var refused: [Acknowledgement] = []
      if let batch = open {
        refused.append(batch.acknowledgement)
        queuedOperations -= batch.operations.count
        open = nil
      }
      entries.removeAll { entry in
        guard case .operations(let operations, let acknowledgement) = entry else { return false }
        refused.append(acknowledgement)
        queuedOperations -= operations.count
        return true
      }
      return refused
    }

    /// Records a commit; true if it ends a failure.
    mutating func committed() -> Bool {
      defer { failure = nil }
      return failure != nil
    }

    /// true if the writer is waiting and must be woken to finish.
    mutating func close() -> Bool {
      closing = true
      return urge()
    }
  }

  private let queue: Mutex<Queue>
  private let wake = DispatchSemaphore(value: 0)
  /// Completed by the writer thread as it exits.
  private let finished = Acknowledgement()
  private let database: DatabaseQueue
  private let logger: Logger

  private let transactions = Atomic<Int>(0)
  private let operationsCommitted = Atomic<Int>(0)
  private let failedTransactions = Atomic<Int>(0)
  /// A submission found the writer parked: the caller signals it once
  /// it released the registry's lock (`signalIfNeeded`).
  private let signalOwed = Atomic<Bool>(false)

  init(database: DatabaseQueue, configuration: SQLiteStore.Configuration, logger: Logger) {
    self.database = database
    self.logger = logger
    let window = configuration.commitWindow.components
    self.queue = Mutex(
      Queue(
        retryInterval: configuration.retryInterval,
        window: UInt64(window.seconds) * 1_000_000_000 + UInt64(window.attoseconds / 1_000_000_000),
        maxBatch: configuration.maxBatchOperations))
    let thread = Thread { [self] in run() }
    thread.name = "chat-store-writer"
    thread.start()
  }

  func enqueue(_ operations: [StoreOperation]) -> StoreSubmission {
    switch queue.withLock({ $0.submit(operations) }) {
    case .queued(let acknowledgement, let wakeWriter):
      if wakeWriter { signalOwed.store(true, ordering: .releasing) }
      return StoreSubmission(acknowledgement: acknowledgement, needsWake: wakeWriter)
    case .refused(let error):
      return StoreSubmission(acknowledgement: .failed(error), needsWake: false)
    }
  }

  /// Signals the writer if a submission owes it a signal.
  func signalIfNeeded() {
    if signalOwed.load(ordering: .acquiring), signalOwed.exchange(false, ordering: .acquiringAndReleasing) {
      wake.signal()
    }
  }

  func control(_ body: @escaping @Sendable (Database) throws -> Void) -> Acknowledgement {
    switch queue.withLock({ $0.control(body) }) {
    case .queued(let acknowledgement, let wakeWriter):
      if wakeWriter { wake.signal() }
      return acknowledgement
    case .refused(let error):
      return .failed(error)
    }
  }

  /// Ends a failure's retry interval now: the next submission is tried
  /// (tests, instead of waiting the interval out).
  func retryNow() {
    queue.withLock { queue in
      if let failure = queue.failure { queue.failure = (failure.error, .now) }
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

  /// Transactions committed, operations in them, transactions failed.
  var statistics: (transactions: Int, operations: Int, failedTransactions: Int) {
    (
      transactions.load(ordering: .relaxed), operationsCommitted.load(ordering: .relaxed),
      failedTransactions.load(ordering: .relaxed)
    )
  }

  // MARK: The writer thread

  private func run() {
    // Set from the thread itself: Foundation on Linux drops a name set
    // before `start()`, and the system takes at most 15 bytes.
    Thread.current.name = "chat-store-wr"
    loop: while true {
      switch queue.withLock({ $0.next(now: .now()) }) {
      case .park:
        // Woken by the next submission; the timeout only re-checks the queue.
        _ = wake.wait(timeout: .now() + 1)
      case .wait(let deadline):
        // A signal (a full batch, a control entry, close) or the deadline:
        // either way the queue is looked at again.
        _ = wake.wait(timeout: deadline)
      case .stop:
        break loop
      case .work(let entries):
        // A batch is closed only by a control entry: no two batches are adjacent.
        for entry in entries {
          switch entry {
          case .operations(let operations, let acknowledgement):
            commit(operations, acknowledgement)
          case .control(let body, let acknowledgement):
            do {
              try database.inDatabase(body)
              acknowledgement.complete(nil)
            } catch {
              acknowledgement.complete(.unavailable("\(error)"))
            }
          }
        }
      }
    }
    finished.complete(nil)
  }

  private func commit(_ operations: [StoreOperation], _ acknowledgement: Acknowledgement) {
    do {
      try database.inDatabase { db in
        // BEGIN and COMMIT as cached statements: GRDB's `inTransaction`
        // runs them through its SQL-literal machinery, which parses and
        // resolves them again at every commit (profiled: a good part of the
        // writer's GRDB time at one or two messages a commit).
        try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        do {
          for operation in operations { try apply(operation, db) }
          try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
        } catch {
          // SQLite may already have rolled back (disk full, I/O error);
          // `rollback` checks, and ends the transaction otherwise.
          try? db.rollback()
          throw error
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
      acknowledgement.complete(storeError)
      for refused in refused { refused.complete(storeError) }
      return
    }
    transactions.add(1, ordering: .relaxed)
    operationsCommitted.add(operations.count, ordering: .relaxed)
    if queue.withLock({ $0.committed() }) { logger.notice("store writable again") }
    acknowledgement.complete(nil)
  }

  private func apply(_ operation: StoreOperation, _ db: Database) throws {
    switch operation {
    case .log, .deleteChannel:
      // The message log's (SQLiteStore sends them there, never here).
      assertionFailure("a log operation reached the SQLite writer")
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

  /// SQLite's sentence for the error ("database or disk is full", …).
  private static func describe(_ error: any Error) -> String {
    if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
    return "\(error)"
  }
}
