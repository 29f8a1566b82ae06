import Foundation
import GRDB
import Logging
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The default store: the message log in append-only segment files
/// (`DIR/log/`, see `MessageLog`), everything else (accounts, tokens,
/// groups, memberships, positions) in `DIR/chat.sqlite` in WAL mode,
/// written by one writer thread that commits everything pending in one
/// transaction (group commit). See `docs/store-choice.md`.
public final class SQLiteStore: Store {
  public struct Configuration: Sendable {
    /// What an acknowledged commit survives.
    public enum Durability: Sendable {
      /// WAL with `synchronous=NORMAL`: a commit is in the WAL, in the
      /// kernel's page cache, before it is acknowledged, so it survives the
      /// process's death (`kill -9`, a crash), not the machine's (power loss,
      /// kernel panic). No fsync per commit; the WAL is synced at checkpoints.
      case process
      /// WAL with `synchronous=FULL`: the WAL is fsynced at every commit, so a
      /// commit also survives power loss, at one fsync per batch.
      case machine
    }

    public var directory: String
    public var durability: Durability
    public var retention: Retention
    /// After a failed commit, new submissions fail at once for this long;
    /// the first one after it is tried (and, if it commits, the store is back).
    public var retryInterval: Duration
    /// Caps the database at this many pages (SQLite's `max_page_count`): a
    /// size limit, and how tests make a disk "full". nil: SQLite's default.
    public var maxPageCount: Int?
    /// Commits start at most once per window: what is queued meanwhile
    /// waits for the window's end and shares one transaction, and the
    /// writer is not woken per submission. It adds up to this much to a
    /// SendMessage's latency (its budget is 2 ms); a submission to an idle
    /// writer is committed at once.
    public var commitWindow: Duration
    /// A window ends early once this many operations are queued.
    public var maxBatchOperations: Int
    /// The message log starts a new segment file past this size.
    public var segmentBytes: UInt64
    /// The message log's segments together may not grow past this: a size
    /// limit, and how tests make a disk "full". nil: no limit.
    public var maxLogBytes: UInt64?

    public init(
      directory: String, durability: Durability = .process, retention: Retention = Retention(),
      retryInterval: Duration = .seconds(1), maxPageCount: Int? = nil, commitWindow: Duration = .milliseconds(1),
      maxBatchOperations: Int = 256, segmentBytes: UInt64 = 64 << 20, maxLogBytes: UInt64? = nil
    ) {
      self.segmentBytes = segmentBytes
      self.maxLogBytes = maxLogBytes
      precondition(commitWindow >= .zero && maxBatchOperations > 0)
      self.commitWindow = commitWindow
      self.maxBatchOperations = maxBatchOperations
      self.directory = directory
      self.durability = durability
      self.retention = retention
      self.retryInterval = retryInterval
      self.maxPageCount = maxPageCount
    }
  }

  public let epoch: String
  public let configuration: Configuration
  let directory: DataDirectory
  let database: DatabaseQueue
  private let writer: StoreWriter
  let log: MessageLog

  private init(
    epoch: String, configuration: Configuration, directory: DataDirectory, database: DatabaseQueue,
    writer: StoreWriter, log: MessageLog
  ) {
    self.epoch = epoch
    self.configuration = configuration
    self.directory = directory
    self.database = database
    self.writer = writer
    self.log = log
  }

  /// Opens (or creates) the store in `configuration.directory` and starts its
  /// writer. Refuses, leaving every file as it was: a directory another store
  /// holds, a file that is not SQLite, an SQLite file that is not a chat
  /// store, a store from a newer server, a damaged file.
  public static func open(_ configuration: Configuration, logger: Logger) throws(StoreError) -> SQLiteStore {
    let directory = try DataDirectory.acquire(configuration.directory)
    do {
      let path = directory.databasePath
      try checkHeader(path)
      try checkOwner(path)
      let database = try openDatabase(path, configuration)
      let epoch = try prepare(database, path: path)
      try moveLegacyLog(database, directory: directory.path, configuration: configuration, epoch: epoch, logger: logger)
      let log = try MessageLog.open(
        MessageLog.Configuration(
          directory: directory.path + "/log", epoch: epoch, syncEachWrite: configuration.durability == .machine,
          retention: configuration.retention, segmentBytes: configuration.segmentBytes,
          maxBytes: configuration.maxLogBytes, retryInterval: configuration.retryInterval),
        logger: logger)
      let writer = StoreWriter(database: database, configuration: configuration, logger: logger)
      logger.info("store opened", metadata: ["path": "\(path)", "epoch": "\(epoch)"])
      return SQLiteStore(
        epoch: epoch, configuration: configuration, directory: directory, database: database, writer: writer, log: log)
    } catch {
      directory.release()
      throw error
    }
  }

  /// Refuses a non-empty file that does not start with SQLite's magic string,
  /// before SQLite sees it; creates a missing file readable by its owner only.
  private static func checkHeader(_ path: String) throws(StoreError) {
    let fd = systemOpen(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 {
      guard errno == ENOENT else { throw .dataDirectory(path: path, reason: "cannot read it: \(errnoText())") }
      // SQLite's own journals (-wal, -shm) take this file's mode.
      let created = systemOpen(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
      guard created >= 0 else { throw .dataDirectory(path: path, reason: "cannot create it: \(errnoText())") }
      systemClose(created)
      return
    }
    defer { systemClose(fd) }
    var header = [UInt8](repeating: 0, count: 16)
    let count = read(fd, &header, 16)
    if count == 0 { return }  // an empty file is what SQLite makes of a new database
    guard count == 16, header == Array("SQLite format 3\0".utf8) else { throw .notADatabase(path: path) }
  }

  private static func openDatabase(_ path: String, _ configuration: Configuration) throws(StoreError) -> DatabaseQueue {
    var options = GRDB.Configuration()
    options.foreignKeysEnabled = false  // see Schema: no constraint may fail a shared batch
    let synchronous = configuration.durability == .process ? "NORMAL" : "FULL"
    let maxPageCount = configuration.maxPageCount
    // WAL set here, not with GRDB's `journalMode = .wal`, which sets
    // synchronous=NORMAL after this runs and so would override `.machine`.
    options.prepareDatabase { db in
      guard try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") == "wal" else {
        throw DatabaseError(message: "could not switch to WAL mode")
      }
      try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
      if let maxPageCount { try db.execute(sql: "PRAGMA max_page_count = \(maxPageCount)") }
    }
    do {
      return try DatabaseQueue(path: path, configuration: options)
    } catch {
      throw refusal(error, path: path)
    }
  }

  /// Refuses an SQLite database that is not a chat store, or one from a
  /// newer server, reading it through a read-only connection: opening it for
  /// writing would already change it (switching it to WAL rewrites its header).
  private static func checkOwner(_ path: String) throws(StoreError) {
    let migrator = Schema.migrator
    var options = GRDB.Configuration()
    options.readonly = true
    do {
      let database = try DatabaseQueue(path: path, configuration: options)
      defer { try? database.close() }
      try database.read { db in
        let tables = try String.fetchAll(
          db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        if applicationID != Schema.applicationID && !(applicationID == 0 && tables.isEmpty) {
          let shown = tables.prefix(5).joined(separator: ", ") + (tables.count > 5 ? ", …" : "")
          throw StoreError.foreign(
            path: path,
            detail: "application_id \(applicationID), tables: \(tables.isEmpty ? "none" : shown)")
        }
        if try migrator.hasBeenSuperseded(db) {
          let known = Set(migrator.migrations)
          throw StoreError.newerSchema(
            path: path, unknown: try migrator.appliedIdentifiers(db).subtracting(known).sorted())
        }
      }
    } catch {
      throw refusal(error, path: path)
    }
  }

  /// Migrates the store and reads its epoch.
  private static func prepare(_ database: DatabaseQueue, path: String) throws(StoreError) -> String {
    do {
      try Schema.migrator.migrate(database)
      return try database.read { db in
        guard let epoch = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'") else {
          throw StoreError.corrupt(path: path, detail: "no epoch in table meta")
        }
        return epoch
      }
    } catch {
      throw refusal(error, path: path)
    }
  }

  /// The startup refusal an open or read error stands for.
  private static func refusal(_ error: any Error, path: String) -> StoreError {
    if let error = error as? StoreError { return error }
    if let error = error as? DatabaseError {
      switch error.resultCode {
      case .SQLITE_NOTADB: return .notADatabase(path: path)
      case .SQLITE_CORRUPT: return .corrupt(path: path, detail: error.message ?? "\(error)")
      default: return .corrupt(path: path, detail: "\(error.resultCode): \(error.message ?? "\(error)")")
      }
    }
    return .corrupt(path: path, detail: "\(error)")
  }

  public func load() throws(StoreError) -> StoredState {
    var state = try readTables()
    state.log = try log.load()
    return state
  }

  /// The tables, and each channel's newest records from the message log's
  /// index: a restart reads a bounded tail, not the whole retained log.
  public func loadTail(eventsPerChannel: Int) throws(StoreError) -> StoredState {
    var state = try readTables()
    state.log = try log.loadTail(eventsPerChannel: eventsPerChannel)
    return state
  }

  private func readTables() throws(StoreError) -> StoredState {
    do {
      return try database.read { db in try Self.tables(db, epoch: epoch) }
    } catch {
      throw Self.refusal(error, path: directory.databasePath)
    }
  }

  /// Stores from before the message log kept it in table `log`. Its rows
  /// move to segment files once: written to `log.new`, synced, renamed to
  /// `log`, then the rows are deleted. Until they are deleted the rows are
  /// the truth, so a move a crash interrupted is done again from them.
  /// Then the database is vacuumed.
  private static func moveLegacyLog(
    _ database: DatabaseQueue, directory: String, configuration: Configuration, epoch: String, logger: Logger
  ) throws(StoreError) {
    let path = directory + "/chat.sqlite"
    let target = directory + "/log"
    let staging = directory + "/log.new"
    do {
      guard try database.read({ db in try Int.fetchOne(db, sql: "SELECT count(*) FROM log") ?? 0 }) > 0 else { return }
      for stale in [staging, target] where FileManager.default.fileExists(atPath: stale) {
        try FileManager.default.removeItem(atPath: stale)
      }
      try MessageLog.makeDirectory(staging)
      var segment = try LogSegment.create(directory: staging, number: 1, epoch: epoch)
      var size = UInt64(LogFrame.segmentHeaderSize)
      var buffer: [UInt8] = []
      var moved = 0
      func drain() throws {
        guard !buffer.isEmpty else { return }
        if size > UInt64(LogFrame.segmentHeaderSize) && size + UInt64(buffer.count) > configuration.segmentBytes {
          try segment.sync()
          segment = try LogSegment.create(directory: staging, number: segment.number + 1, epoch: epoch)
          size = UInt64(LogFrame.segmentHeaderSize)
        }
        try segment.write(buffer, at: size)
        size += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
      }
      try database.read { db in
        let rows = try Row.fetchCursor(db, sql: "SELECT seq, channel, kind, time, payload FROM log ORDER BY seq")
        while let row = try rows.next() {
          let payload: Data = row[4]
          LogFrame.append(
            seq: UInt64(row[0] as Int64), kind: UInt8(row[2] as Int64), time: row[3], channel: row[1],
            payload: [UInt8](payload), to: &buffer)
          moved += 1
          if buffer.count >= 1 << 20 { try drain() }
        }
      }
      try drain()
      try segment.sync()
      syncDirectory(staging)
      guard rename(staging, target) == 0 else { throw StoreError.unavailable("cannot rename \(staging): \(errnoText())") }
      syncDirectory(directory)
      try database.write { db in try db.execute(sql: "DELETE FROM log") }
      // The rows' pages are free now: give them back to the file system
      // (once; a crash during it leaves the database as it was before it).
      try database.writeWithoutTransaction { db in
        try db.execute(sql: "VACUUM")
        // In WAL mode the file shrinks at the checkpoint: do it now.
        try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
      }
      logger.notice("message log moved out of SQLite into segment files", metadata: ["records": "\(moved)"])
    } catch {
      throw refusal(error, path: path)
    }
  }

  /// Everything but the log.
  private static func tables(_ db: Database, epoch: String) throws -> StoredState {
    var state = StoredState(epoch: epoch)
    state.accounts = try Row.fetchAll(
      db, sql: "SELECT name_key, display, password_hash, created FROM accounts ORDER BY name_key"
    ).map { AccountRecord(nameKey: $0[0], display: $0[1], passwordHash: $0[2], created: date($0[3])) }
    state.tokens = try Row.fetchAll(db, sql: "SELECT hash, account, expires FROM tokens ORDER BY hash")
      .map { TokenRecord(hash: $0[0], account: $0[1], expires: date($0[2])) }
    state.groups = try Row.fetchAll(db, sql: "SELECT key, display, permanent, created_seq FROM groups ORDER BY key")
      .map { GroupRecord(key: $0[0], display: $0[1], permanent: $0[2], createdSeq: UInt64($0[3] as Int64)) }
    state.memberships = try Row.fetchAll(
      db, sql: "SELECT group_key, account, since, until FROM memberships ORDER BY group_key, account, since"
    ).map { row in
      let until: Int64? = row[3]
      return Membership(group: row[0], account: row[1], since: UInt64(row[2] as Int64), until: until.map(UInt64.init))
    }
    for row in try Row.fetchAll(db, sql: "SELECT account, seq FROM positions") {
      state.positions[row[0]] = UInt64(row[1] as Int64)
    }
    return state
  }

  /// From the message log's index and segments, once what was submitted
  /// before the call is written.
  public func readLog(
    _ channel: String, after: UInt64, before: UInt64, newestFirst: Bool, limit: Int, messagesPerChannel: Int
  ) async throws(StoreError) -> LogPage {
    try await log.readLog(
      channel, after: after, before: before, newestFirst: newestFirst, limit: limit,
      messagesPerChannel: messagesPerChannel)
  }

  /// SQLite's sentence for the error.
  private static func describe(_ error: any Error) -> String {
    if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
    return "\(error)"
  }

  public func submit(_ operations: [StoreOperation]) -> Acknowledgement {
    let submission = enqueue(operations)
    if submission.needsWake { wakeWriter() }
    return submission.acknowledgement
  }

  /// Log records and channel deletions go to the message log, the rest to
  /// SQLite's writer; a submission with both is acknowledged once both are.
  public func enqueue(_ operations: [StoreOperation]) -> StoreSubmission {
    // The common case, a message: the array goes to the log as it is.
    if !operations.isEmpty && operations.allSatisfy(\.isForMessageLog) {
      let (acknowledgement, needsFlush) = log.enqueue(operations)
      return StoreSubmission(acknowledgement: acknowledgement, needsWake: needsFlush)
    }
    let forLog = operations.filter(\.isForMessageLog)
    let others = operations.filter { !$0.isForMessageLog }
    let stored = writer.enqueue(others)
    // An empty submission is done once everything submitted before it is, in both.
    if forLog.isEmpty && !operations.isEmpty { return stored }
    let (written, needsFlush) = forLog.isEmpty ? log.enqueueBarrier() : log.enqueue(forLog)
    return StoreSubmission(
      acknowledgement: .all([written, stored.acknowledgement]), needsWake: needsFlush || stored.needsWake)
  }

  /// Writes the message log's queued records on this thread (see
  /// `MessageLog.flush`), and wakes SQLite's writer if it is owed a wake.
  public func wakeWriter() {
    log.flush()
    writer.signalIfNeeded()
  }

  public func close() async {
    await log.close()
    await writer.close()
    try? database.close()
    directory.release()
  }

  /// What the writer did so far.
  public var statistics: StoreStatistics {
    let sqlite = writer.statistics
    let log = log.statistics
    return StoreStatistics(
      transactions: sqlite.transactions, operations: sqlite.operations, failedTransactions: sqlite.failedTransactions,
      logWrites: log.writes, logRecords: log.records, failedLogWrites: log.failedWrites, pruned: log.pruned,
      logSegments: log.segments, logBytes: log.bytes, compactions: log.compactions)
  }

  /// Ends the retry interval of a failing store now: the next submission
  /// is tried (tests, instead of waiting the interval out).
  func retryNow() {
    writer.retryNow()
    log.retryNow()
  }

  /// Runs `body` on the writer thread, between two batches (tests: pausing
  /// the writer, changing a pragma).
  func runOnWriter(_ body: @escaping @Sendable (Database) throws -> Void) -> Acknowledgement {
    writer.control(body)
  }
}

public struct StoreStatistics: Sendable, Equatable {
  /// Transactions SQLite's writer committed.
  public var transactions: Int
  /// Operations in them.
  public var operations: Int
  /// Transactions that failed (their operations' acknowledgements failed).
  public var failedTransactions: Int
  /// Writes to the message log (each one `pwrite` of one or more records).
  public var logWrites: Int
  /// Records and tombstones in them.
  public var logRecords: Int
  /// Writes to the message log that failed.
  public var failedLogWrites: Int
  /// Log records retention dropped.
  public var pruned: Int
  /// The message log's segment files now, and their bytes.
  public var logSegments: Int
  public var logBytes: UInt64
  /// Segments compaction copied out and deleted.
  public var compactions: Int
}

/// Times are stored in whole microseconds since 1970.
func microseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
func date(_ microseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(microseconds) / 1_000_000) }
