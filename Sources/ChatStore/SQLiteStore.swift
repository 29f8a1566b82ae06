import Foundation
import GRDB
import Logging
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The default store: `DIR/chat.sqlite` in WAL mode, written by one writer
/// thread that commits everything pending in one transaction (group commit).
/// See `docs/store-choice.md` for why GRDB and why these settings.
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

    public init(
      directory: String, durability: Durability = .process, retention: Retention = Retention(),
      retryInterval: Duration = .seconds(1), maxPageCount: Int? = nil, commitWindow: Duration = .milliseconds(1),
      maxBatchOperations: Int = 256
    ) {
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
  /// Read-only connections for History's older pages: in WAL mode they read
  /// while the writer writes, and never hold up a commit.
  private let reader: DatabasePool
  private let writer: StoreWriter
  /// Retention's cut per channel as `readLog` last found it, with the
  /// channel's newest message then (see `retainedFrom`).
  private let cuts = Mutex<[String: (newestMessage: Int64, cut: Int64)]>([:])

  private init(
    epoch: String, configuration: Configuration, directory: DataDirectory, database: DatabaseQueue,
    reader: DatabasePool, writer: StoreWriter
  ) {
    self.epoch = epoch
    self.configuration = configuration
    self.directory = directory
    self.database = database
    self.reader = reader
    self.writer = writer
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
      let reader = try openReader(path)
      let writer = StoreWriter(database: database, configuration: configuration, logger: logger)
      logger.info("store opened", metadata: ["path": "\(path)", "epoch": "\(epoch)"])
      return SQLiteStore(
        epoch: epoch, configuration: configuration, directory: directory, database: database, reader: reader,
        writer: writer)
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

  private static func openReader(_ path: String) throws(StoreError) -> DatabasePool {
    var options = GRDB.Configuration()
    options.readonly = true
    options.maximumReaderCount = 2
    do {
      return try DatabasePool(path: path, configuration: options)
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
    do {
      return try database.read { db in
        var state = try Self.tables(db, epoch: epoch)
        state.log.reserveCapacity(try Int.fetchOne(db, sql: "SELECT count(*) FROM log") ?? 0)
        let rows = try Row.fetchCursor(db, sql: "SELECT seq, channel, kind, time, payload FROM log ORDER BY seq")
        while let row = try rows.next() {
          state.log.append(
            LogRecord(
              seq: UInt64(row[0] as Int64), channel: row[1], kind: LogRecord.Kind(rawValue: row[2]) ?? .message,
              time: date(row[3]), payload: row[4]))
        }
        return state
      }
    } catch {
      throw Self.refusal(error, path: directory.databasePath)
    }
  }

  /// The tables, and one indexed query per channel for its newest rows: a
  /// restart reads a bounded tail, not the whole retained log.
  public func loadTail(eventsPerChannel: Int) throws(StoreError) -> StoredState {
    do {
      return try database.read { db in
        var state = try Self.tables(db, epoch: epoch)
        // The distinct channels, one index seek each (a skip scan of log_by_channel).
        let channels = try String.fetchAll(
          db,
          sql: """
            WITH RECURSIVE channels(name) AS (
              SELECT min(channel) FROM log
              UNION ALL
              SELECT (SELECT min(channel) FROM log WHERE channel > name) FROM channels WHERE name IS NOT NULL)
            SELECT name FROM channels WHERE name IS NOT NULL
            """)
        // Channels' rows are interleaved in the table, so the tails share
        // pages: a page cache that holds them all reads each page once (the
        // default 2 MiB read the newest pages again for every channel).
        let cacheSize = try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? -2000
        try db.execute(sql: "PRAGMA cache_size = -131072")
        defer { try? db.execute(sql: "PRAGMA cache_size = \(cacheSize)") }
        let newest = try db.makeStatement(
          sql: "SELECT seq, kind, time, payload FROM log WHERE channel = ? ORDER BY seq DESC LIMIT ?")
        var rows: [LogRecord] = []
        for channel in channels {
          rows.removeAll(keepingCapacity: true)
          let cursor = try Row.fetchCursor(newest, arguments: [channel, eventsPerChannel + 1])
          while let row = try cursor.next() {
            rows.append(
              LogRecord(
                seq: UInt64(row[0] as Int64), channel: channel, kind: LogRecord.Kind(rawValue: row[1]) ?? .message,
                time: date(row[2]), payload: row[3]))
          }
          state.log.append(contentsOf: rows.reversed())
        }
        return state
      }
    } catch {
      throw Self.refusal(error, path: directory.databasePath)
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

  /// Two indexed queries on a read-only connection, once what was submitted
  /// before the call is committed (the registry may have let go of an event
  /// whose commit is still queued).
  public func readLog(
    _ channel: String, after: UInt64, before: UInt64, newestFirst: Bool, limit: Int, messagesPerChannel: Int
  ) async throws(StoreError) -> LogPage {
    do {
      // A barrier: runs on the writer thread once everything queued before
      // it is committed (or failed: then it is not on the disk to read, and
      // the read goes on with what is). No transaction of its own, and not
      // a trial write for a failing store.
      try await writer.control { _ in }.waitUntimed()
    } catch let error as StoreError {
      throw error
    } catch {
      throw .unavailable("the read was cancelled")
    }
    let lower = Int64(clamping: after)
    let upper = Int64(clamping: before)
    let order = newestFirst ? "DESC" : "ASC"
    do {
      return try await reader.read { db in
        let retainedFrom = try retainedFrom(channel, messagesPerChannel, db)
        let rows = try Row.fetchAll(
          db.cachedStatement(
            sql: """
              SELECT seq, kind, time, payload FROM log
              WHERE channel = ? AND seq > ? AND seq < ? ORDER BY seq \(order) LIMIT ?
              """),
          arguments: [channel, max(lower, retainedFrom - 1), upper, limit])
        let records = rows.map { row in
          LogRecord(
            seq: UInt64(row[0] as Int64), channel: channel, kind: LogRecord.Kind(rawValue: row[1]) ?? .message,
            time: date(row[2]), payload: row[3])
        }
        return LogPage(records: records, retainedAfter: UInt64(max(retainedFrom - 1, 0)))
      }
    } catch {
      throw .unavailable(Self.describe(error))
    }
  }

  /// Where retention's rule starts the channel (pruning lags behind it): its
  /// `messagesPerChannel`th newest message, or 0 if it has fewer. Finding it
  /// walks that many entries of log_messages, so it is kept per channel while
  /// the channel's newest message stays the same: messages are only added
  /// above it, pruning with the same limit deletes only below the cut, and
  /// deleting the channel deletes its newest message too.
  private func retainedFrom(_ channel: String, _ messagesPerChannel: Int, _ db: Database) throws -> Int64 {
    let newest =
      try Int64.fetchOne(
        db.cachedStatement(sql: "SELECT max(seq) FROM log WHERE channel = ? AND kind = 1"), arguments: [channel]) ?? 0
    let cacheable = messagesPerChannel == configuration.retention.messagesPerChannel
    if cacheable, let known = cuts.withLock({ $0[channel] }), known.newestMessage == newest { return known.cut }
    let cut =
      try Int64.fetchOne(
        db.cachedStatement(sql: "SELECT seq FROM log WHERE channel = ? AND kind = 1 ORDER BY seq DESC LIMIT 1 OFFSET ?"),
        arguments: [channel, messagesPerChannel - 1]) ?? 0
    if cacheable { cuts.withLock { $0[channel] = (newest, cut) } }
    return cut
  }

  /// SQLite's sentence for the error.
  private static func describe(_ error: any Error) -> String {
    if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
    return "\(error)"
  }

  public func submit(_ operations: [StoreOperation]) -> Acknowledgement {
    writer.submit(operations)
  }

  public func enqueue(_ operations: [StoreOperation]) -> StoreSubmission {
    writer.enqueue(operations)
  }

  public func wakeWriter() {
    writer.wakeWriter()
  }

  public func close() async {
    await writer.close()
    try? reader.close()
    try? database.close()
    directory.release()
  }

  /// What the writer did so far.
  public var statistics: StoreStatistics { writer.statistics }

  /// Runs `body` on the writer thread, between two batches (tests: pausing
  /// the writer, changing a pragma).
  func runOnWriter(_ body: @escaping @Sendable (Database) throws -> Void) -> Acknowledgement {
    writer.control(body)
  }
}

public struct StoreStatistics: Sendable, Equatable {
  /// Transactions the writer committed.
  public var transactions: Int
  /// Operations in them.
  public var operations: Int
  /// Transactions that failed (their operations' acknowledgements failed).
  public var failedTransactions: Int
  /// Log rows deleted by retention.
  public var pruned: Int
}

/// Times are stored in whole microseconds since 1970.
func microseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
func date(_ microseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(microseconds) / 1_000_000) }
