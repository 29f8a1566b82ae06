import Foundation

/// Where the registry keeps what must outlive a session (and, for the SQLite
/// store, a restart): accounts, tokens, groups, memberships, positions and the
/// log of Message / MemberJoined / MemberLeft events.
///
/// The registry decides under its lock and queues there (`enqueue`: no disk,
/// no await), so the order of calls is the order of writes; after releasing
/// the lock it calls `wakeWriter()`. The caller awaits the returned
/// `Acknowledgement` before answering OK; it completes when the operations are
/// durable (SQLite store: log records in the message log's page cache, the
/// rest committed in WAL) or fails with `StoreError.unavailable`.
///
/// Keys (`nameKey`, `channel`, group `key`) are the registry's: the store
/// compares them byte for byte and never derives one.
public protocol Store: Sendable {
  /// The log's epoch: a random id made when the store was created, kept as
  /// long as the store is.
  var epoch: String { get }

  /// Everything stored, the whole log included (the registry reads only
  /// `loadTail` at startup; tests, and the default `loadTail` and `readLog`
  /// of stores that keep little, read this).
  func load() throws(StoreError) -> StoredState

  /// What the registry reads at startup (before the first `submit`):
  /// everything stored but the log, and of the log only each channel's
  /// newest `eventsPerChannel` records, and one more when it has older ones
  /// (so the caller knows there are). The log is grouped by channel, each in
  /// seq order.
  func loadTail(eventsPerChannel: Int) throws(StoreError) -> StoredState

  /// Up to `limit` retained records of `channel` with `after < seq < before`,
  /// newest first or oldest first: History's pages older than the registry
  /// holds in memory. Retained means what retention keeps with
  /// `messagesPerChannel` (the newest that many messages and the member
  /// events since the oldest of them), even where pruning has not caught up.
  /// It sees every operation submitted before it was called.
  func readLog(
    _ channel: String, after: UInt64, before: UInt64, newestFirst: Bool, limit: Int, messagesPerChannel: Int
  ) async throws(StoreError) -> LogPage

  /// `enqueue`, then `wakeWriter()` if needed: call it outside the
  /// registry's lock, in the order the registry decided.
  func submit(_ operations: [StoreOperation]) -> Acknowledgement

  /// Queues `operations`, to be written together with whatever else is
  /// pending, in order, and does nothing else: for the registry, which
  /// queues under its lock (so the store sees its order) and calls
  /// `wakeWriter()` after releasing it when `needsWake` says so. Never
  /// evaluates a deferred payload.
  func enqueue(_ operations: [StoreOperation]) -> StoreSubmission

  /// Does what `enqueue` left for after the lock: the SQLite store copies
  /// the queued log records into its message log on this thread and wakes
  /// SQLite's writer thread if it is owed a wake.
  func wakeWriter()

  /// Commits what is pending, stops accepting operations and releases the
  /// store (its files and lock). Later submits fail with `.closed`.
  func close() async
}

/// What `enqueue` queued: the outcome to await, and whether the writer must be woken.
public struct StoreSubmission: Sendable {
  public let acknowledgement: Acknowledgement
  public let needsWake: Bool

  public init(acknowledgement: Acknowledgement, needsWake: Bool) {
    self.acknowledgement = acknowledgement
    self.needsWake = needsWake
  }
}

extension Store {
  /// Queues log records; see `submit`.
  public func append(_ records: [LogRecord]) -> Acknowledgement {
    submit(records.map(StoreOperation.log))
  }

  /// `loadTail` from everything `load` reads: for stores that keep little.
  public func loadTail(eventsPerChannel: Int) throws(StoreError) -> StoredState {
    var state = try load()
    var byChannel: [String: [LogRecord]] = [:]
    for record in state.log { byChannel[record.channel, default: []].append(record) }
    state.log = byChannel.keys.sorted().flatMap { byChannel[$0]!.suffix(eventsPerChannel + 1) }
    return state
  }

  /// `readLog` from everything `load` reads: for stores that keep little
  /// (and apply each submission before `submit` returns).
  public func readLog(
    _ channel: String, after: UInt64, before: UInt64, newestFirst: Bool, limit: Int, messagesPerChannel: Int
  ) async throws(StoreError) -> LogPage {
    let records = try load().log.filter { $0.channel == channel }
    let messages = records.filter { $0.kind == .message }
    let retainedFrom = messages.count < messagesPerChannel ? 0 : messages[messages.count - messagesPerChannel].seq
    let page = records.filter { $0.seq >= retainedFrom && $0.seq > after && $0.seq < before }
    return LogPage(
      records: Array(newestFirst ? page.reversed().prefix(limit) : page.prefix(limit)),
      retainedAfter: retainedFrom == 0 ? 0 : retainedFrom - 1)
  }
}

/// What `readLog` read.
public struct LogPage: Sendable {
  public var records: [LogRecord]
  /// Every event of the channel with a larger seq is retained; at or below
  /// it some may be gone (a channel holding its full quota of messages may
  /// have had older ones pruned).
  public var retainedAfter: UInt64

  public init(records: [LogRecord], retainedAfter: UInt64) {
    self.records = records
    self.retainedAfter = retainedAfter
  }
}

/// One change, applied by the store's writer in submission order.
public enum StoreOperation: Sendable, Equatable {
  case log(LogRecord)
  /// Inserts or replaces the account.
  case putAccount(AccountRecord)
  /// Deletes the account with its tokens, memberships and position.
  case deleteAccount(nameKey: String)
  case putToken(TokenRecord)
  case deleteToken(hash: Data)
  /// Inserts or replaces the group.
  case putGroup(GroupRecord)
  /// Deletes the group (its log and past memberships stay: catch-up needs them).
  case deleteGroup(key: String)
  /// The account joined the group with the event `since`.
  case addMember(group: String, account: String, since: UInt64)
  /// The account's current membership ended with the event `until`; the
  /// membership is kept as past (what it saw of the group while a member).
  case endMember(group: String, account: String, until: UInt64)
  /// Deletes a channel's whole log: nobody can read or replay it any more.
  case deleteChannel(String)
  /// The highest `seq` written to one of the account's sessions.
  case setPosition(account: String, seq: UInt64)

  /// A log record or a channel's deletion: the SQLite store's message log
  /// writes these, its database the rest. (Tested in place: matching an
  /// array's element in a `switch` copied it, payloads retained.)
  var isForMessageLog: Bool {
    switch self {
    case .log, .deleteChannel: true
    default: false
    }
  }
}

/// One logged event: its already-encoded form and what retention and
/// History need to find it.
public struct LogRecord: Sendable, Equatable {
  public enum Kind: Int64, Sendable {
    case message = 1
    case memberJoined = 2
    case memberLeft = 3
  }

  /// The registry's server-wide counter; unique, increasing.
  public var seq: UInt64
  /// The channel's key, as the registry makes it (a group, or a pair of users).
  public var channel: String
  public var kind: Kind
  /// Stored in whole microseconds since 1970.
  public var time: Date
  /// The event, encoded by the registry; the store never looks inside.
  public var payload: Data { Data(source.bytes) }
  /// The same bytes, as the message log writes them (no copy).
  public var payloadBytes: [UInt8] { source.bytes }
  /// Produces the bytes: already encoded, or encoded on the writer's
  /// thread, not under the registry's lock. An existential of at most three
  /// words, so a record costs no allocation of its own.
  private let source: any LogPayload

  public init(seq: UInt64, channel: String, kind: Kind, time: Date, payload: Data) {
    self.init(seq: seq, channel: channel, kind: kind, time: time, payload: EncodedPayload(bytes: [UInt8](payload)))
  }

  public init(seq: UInt64, channel: String, kind: Kind, time: Date, payloadBytes: [UInt8]) {
    self.init(seq: seq, channel: channel, kind: kind, time: time, payload: EncodedPayload(bytes: payloadBytes))
  }

  /// A record whose payload is produced when the store writes it.
  public init(seq: UInt64, channel: String, kind: Kind, time: Date, payload: some LogPayload) {
    self.seq = seq
    self.channel = channel
    self.kind = kind
    self.time = time
    self.source = payload
  }

  public static func == (lhs: Self, rhs: Self) -> Bool {
    lhs.seq == rhs.seq && lhs.channel == rhs.channel && lhs.kind == rhs.kind && lhs.time == rhs.time
      && lhs.payloadBytes == rhs.payloadBytes
  }
}

/// Where a log record's bytes come from when the store writes it.
public protocol LogPayload: Sendable {
  var bytes: [UInt8] { get }
}

/// Bytes already encoded.
struct EncodedPayload: LogPayload {
  let bytes: [UInt8]
}

public struct AccountRecord: Sendable, Equatable {
  /// The name as the registry compares it (its case-folded form).
  public var nameKey: String
  /// The name as first registered.
  public var display: String
  /// The password's hash with its parameters and salt, as the hasher encodes them.
  public var passwordHash: Data
  public var created: Date

  public init(nameKey: String, display: String, passwordHash: Data, created: Date) {
    self.nameKey = nameKey
    self.display = display
    self.passwordHash = passwordHash
    self.created = created
  }
}

public struct TokenRecord: Sendable, Equatable {
  /// A hash of the token; the token itself is never stored.
  public var hash: Data
  public var account: String
  public var expires: Date

  public init(hash: Data, account: String, expires: Date) {
    self.hash = hash
    self.account = account
    self.expires = expires
  }
}

public struct GroupRecord: Sendable, Equatable {
  public var key: String
  public var display: String
  /// A `--lobby` group: never deleted.
  public var permanent: Bool
  /// The seq of the event that created this instance of the group: its
  /// History starts there (an earlier group of the same name is not its past).
  public var createdSeq: UInt64

  public init(key: String, display: String, permanent: Bool, createdSeq: UInt64 = 0) {
    self.createdSeq = createdSeq
    self.key = key
    self.display = display
    self.permanent = permanent
  }
}

/// An account's membership of a group: current (`until` nil) or past.
public struct Membership: Sendable, Hashable {
  public var group: String
  public var account: String
  /// The seq of its MemberJoined.
  public var since: UInt64
  /// The seq of its MemberLeft; nil while it is a member.
  public var until: UInt64?

  public init(group: String, account: String, since: UInt64, until: UInt64? = nil) {
    self.group = group
    self.account = account
    self.since = since
    self.until = until
  }
}

/// What `load` returns: every table, in a stable order (keys ascending; the
/// log by `seq`).
public struct StoredState: Sendable, Equatable {
  public var epoch: String
  public var accounts: [AccountRecord] = []
  public var tokens: [TokenRecord] = []
  public var groups: [GroupRecord] = []
  public var memberships: [Membership] = []
  public var positions: [String: UInt64] = [:]
  public var log: [LogRecord] = []

  public init(epoch: String) {
    self.epoch = epoch
  }

  /// The largest `seq` ever logged that is still retained, or 0; the registry
  /// continues its counter after it.
  public var lastSeq: UInt64 { log.lazy.map(\.seq).max() ?? 0 }
}

/// How many messages each channel keeps.
public struct Retention: Sendable, Equatable {
  /// The newest `messagesPerChannel` messages of a channel are kept, with the
  /// member events logged since the oldest of them.
  public var messagesPerChannel: Int
  /// Pruning is batched: a channel is trimmed back to `messagesPerChannel`
  /// once it holds `messagesPerChannel + slack` messages, so one DELETE
  /// removes many rows. 0 trims at every commit that adds to the channel.
  public var slack: Int

  public init(messagesPerChannel: Int = 1000, slack: Int = 64) {
    precondition(messagesPerChannel > 0 && slack >= 0)
    self.messagesPerChannel = messagesPerChannel
    self.slack = slack
  }
}

/// A new epoch: 128 random bits in hex.
func makeEpoch() -> String { randomHex128() }

/// 128 random bits as 32 hex digits: epochs, and session ids (ChatCore).
public func randomHex128() -> String {
  var generator = SystemRandomNumberGenerator()
  return (0..<2).map { _ in
    let hex = String(generator.next() as UInt64, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }.joined()
}
