import ChatStore
import Foundation
import Logging
import Synchronization

/// Every user, session, group and membership, behind one lock.
///
/// Each public method validates what it can before taking the lock, decides
/// and queues events while holding it (so ids and per-group order are one
/// total order), and wakes and logs after releasing it. Nothing inside the
/// lock does I/O, awaits, encodes, sorts, finishes a stream or wakes a task:
/// sessions end by closing their `SessionQueue`, and the writers that queues
/// hand events or an end to are resumed once the lock is released.
///
/// Calls name who they act for with a `Caller` from `authenticate`.
public final class ChatRegistry: Sendable {
  private let state: Mutex<RegistryState>
  private let logger: Logger
  public let limits: RegistryLimits
  /// Events written to Connect streams (counted outside the lock, per batch).
  private let eventsWritten = Atomic<Int>(0)
  /// Batches those events went out in (one stream write each).
  private let batchesWritten = Atomic<Int>(0)

  /// The store that keeps accounts and the log; nil keeps everything in memory.
  private let store: (any Store)?
  /// Makes a `SharedEvent` of a log record read back from the store.
  private let readBack: (@Sendable (LogRecord) -> SharedEvent)?
  public let epoch: String
  /// Rung when an offline announcement is scheduled while none was pending;
  /// the presence timer (`runPresenceTimer`) waits on it.
  private let presenceDoorbell: AsyncStream<Void>.Continuation
  private let presenceRings: AsyncStream<Void>
  private let clock: @Sendable () -> ContinuousClock.Instant

  /// A registry that keeps nothing past the process (`--store memory`).
  /// `clock` is when presence graces start and end (tests move it by hand).
  public init(
    logger: Logger, limits: RegistryLimits = RegistryLimits(), lobby: ChatName? = nil,
    clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
  ) {
    self.clock = clock
    var state = RegistryState(
      startedAt: Date(), limits: limits, epoch: randomHex128(), persistence: nil, lobby: lobby, clock: clock)
    var effects = Effects()
    if let lobby { state.ensureLobby(lobby, stored: nil, &effects) }
    self.state = Mutex(state)
    self.logger = logger
    self.limits = limits
    self.store = nil
    self.readBack = nil
    self.epoch = state.log.epoch
    (presenceRings, presenceDoorbell) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
  }

  /// A registry restored from `store`, which keeps what it changes from now on.
  public init<Format: StoredEventEncoding>(
    logger: Logger, limits: RegistryLimits = RegistryLimits(), lobby: ChatName? = nil, store: any Store,
    format: Format.Type
  ) throws(StoreError) {
    self.clock = { .now }
    // Memory holds each channel's newest --max-replay events: all a catch-up
    // can replay. History reads older ones from the store.
    let stored = try store.loadTail(eventsPerChannel: max(limits.maxReplay, 1))
    var state = RegistryState(
      startedAt: Date(), limits: limits, epoch: stored.epoch,
      persistence: RegistryState.Persistence(store: store, encode: { $0.encoded(as: format) }), lobby: lobby)
    var effects = Effects()
    let summary = state.restore(stored, format: format, now: Date(), &effects)
    let operations = summary.staleGroups.map { StoreOperation.deleteGroup(key: $0) } + effects.storeOperations
    self.state = Mutex(state)
    self.logger = logger
    self.limits = limits
    self.store = store
    self.readBack = { record in
      SharedEvent(seq: record.seq, isMessage: record.kind == .message, stored: record.payloadBytes, as: Format.self)
    }
    self.epoch = stored.epoch
    (presenceRings, presenceDoorbell) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    if !operations.isEmpty { _ = store.submit(operations) }
    logger.notice(
      "store loaded",
      metadata: [
        "accounts": "\(summary.accounts)", "groups": "\(summary.groups)", "events_in_memory": "\(summary.events)",
        "last_seq": "\(stored.lastSeq)", "epoch": "\(stored.epoch)",
      ])
  }

  // MARK: Sessions

  /// Registers `name` as a guest with a new session whose queue already
  /// holds Welcome (and, with a lobby, its MemberJoined there).
  public func connect(_ name: ChatName, peer: String = "") throws(ChatError) -> Session {
    var session: Session?
    let effects = try mutate { state, effects throws(ChatError) in session = try state.connect(name, &effects) }
    logger.info("user connected", metadata: ["user": "\(name)", "session": "\(session!.tag)", "peer": "\(peer)"])
    log(effects)
    return session!
  }

  /// Opens a session of the account `token` belongs to; its queue holds
  /// Welcome and then what it missed since `resume` (or since its own
  /// position), all or none.
  ///
  /// It reads nothing from the store: events of a group the account has left
  /// that memory no longer holds are not replayed (`connectAccount` reads them).
  public func connect(
    token: TokenHash, requested rawName: String, resume: LogPosition?, peer: String = ""
  ) throws(ChatError) -> Session {
    try connect(token: token, requested: rawName, resume: resume, peer: peer, stored: [:])
  }

  /// `connect(token:…)`, after reading from the store what the catch-up
  /// needs that memory no longer holds: the events of groups the account has
  /// left, when more than `--max-replay` events were logged in such a group
  /// since (memory holds each channel's newest `--max-replay` events). What
  /// to read is decided under the lock, read after it, and used under it again.
  public func connectAccount(
    token: TokenHash, requested rawName: String, resume: LogPosition?, peer: String = ""
  ) async throws(ChatError) -> Session {
    var stored: [PastRange: [SharedEvent]?] = [:]
    // A second round only if memory let go of more meanwhile.
    for _ in 0..<3 {
      let reads = state.withLock { $0.storeReadsForCatchUp(token: token, resume: resume, date: Date(), stored: stored) }
      guard !reads.isEmpty, let store, let readBack else { break }
      for range in reads {
        do {
          let page = try await store.readLog(
            range.channel, after: range.after, before: range.before, newestFirst: false, limit: limits.maxReplay + 1,
            messagesPerChannel: limits.historyLimit)
          // Some are no longer retained, or too many: the catch-up replays nothing.
          let complete = page.retainedAfter <= range.after && page.records.count <= limits.maxReplay
          stored[range] = .some(complete ? page.records.map(readBack) : nil)
        } catch {
          logger.warning("catch-up read failed", metadata: ["channel": "\(range.channel)", "error": "\(error.message)"])
          stored[range] = .some(nil)
        }
      }
    }
    return try connect(token: token, requested: rawName, resume: resume, peer: peer, stored: stored)
  }

  private func connect(
    token: TokenHash, requested rawName: String, resume: LogPosition?, peer: String, stored: [PastRange: [SharedEvent]?]
  ) throws(ChatError) -> Session {
    let requested = rawName.isEmpty ? nil : try ChatName.validate(rawName, as: .user)
    var session: Session?
    let effects = try mutate { state, effects throws(ChatError) in
      session = try state.connect(
        token: token, requested: requested, resume: resume, date: Date(), stored: stored, &effects)
    }
    logger.info(
      "user connected",
      metadata: ["user": "\(session!.user)", "session": "\(session!.tag)", "peer": "\(peer)", "account": "true"])
    log(effects)
    return session!
  }

  /// Ends `session` after its Connect stream ended on the client's side. A
  /// session the registry already ended (kick, slow consumer, shutdown) is
  /// left as it is.
  public func disconnect(_ session: Session) {
    let effects = state.withLock { state in
      var effects = Effects()
      state.endSession(session, .disconnected, &effects)
      state.endFailedSessions(&effects)
      state.persist(&effects)
      return effects
    }
    finish(effects)
  }

  /// The caller a credential names: a connected user's name, or a session
  /// token in `.session` mode. With `charge`, the call also takes a token
  /// from the user's rate-limit bucket.
  public func authenticate(_ credential: String, mode: AuthMode, charge: Bool) throws(ChatError) -> Caller {
    try state.withLock { state throws(ChatError) in
      // Read under the lock, so buckets see time only move forward.
      try state.authenticate(credential, mode: mode, charge: charge, now: .now)
    }
  }

  /// The account whose access token hashes to `token`.
  public func authenticate(token: TokenHash, charge: Bool) throws(ChatError) -> Caller {
    try state.withLock { state throws(ChatError) in
      try state.authenticate(token: token, charge: charge, now: .now, date: Date())
    }
  }

  // MARK: Accounts

  /// Creates an account signed in with `token`; durable when the returned
  /// acknowledgement completes.
  public func signUp(
    _ name: ChatName, passwordHash: Data, token: TokenHash, expires: Date
  ) throws(ChatError) -> Durability {
    let effects = try mutate { state, effects throws(ChatError) in
      try state.signUp(name, passwordHash: passwordHash, token: token, expires: expires, date: Date(), &effects)
    }
    logger.notice("account created", metadata: ["user": "\(name)"])
    return Durability(effects.stored)
  }

  /// The display name and password hash of the account `name`; nil if there
  /// is none (or it has no password).
  public func passwordHash(of name: ChatName) -> (display: String, hash: Data)? {
    state.withLock { $0.passwordHash(of: name) }
  }

  /// Adds a token for an account that proved its password.
  public func signIn(_ name: ChatName, token: TokenHash, expires: Date) throws(ChatError) -> Durability {
    let effects = try mutate { state, effects throws(ChatError) in
      try state.signIn(name, token: token, expires: expires, &effects)
    }
    logger.info("account signed in", metadata: ["user": "\(name)"])
    return Durability(effects.stored)
  }

  /// Admits a JWT that `--jwt-key` verified for `subject`: the account is
  /// created by its first valid token. Returns the caller it authenticates.
  public func admitJWT(
    subject rawName: String, token: TokenHash, expires: Date, charge: Bool
  ) throws(ChatError) -> Caller {
    let name = try ChatName.validate(rawName, as: .user)
    var created = false
    // Not awaited: the token works in memory at once, and the next call that
    // changes stored state waits for this commit too (commits are in order).
    _ = try mutate { state, effects throws(ChatError) in
      created = state.users[name.key] == nil
      try state.admitJWT(name, token: token, expires: expires, date: Date(), &effects)
    }
    if created { logger.notice("account created", metadata: ["user": "\(name)", "by": "jwt"]) }
    return try authenticate(token: token, charge: charge)
  }

  /// Revokes the caller's token and ends the sessions opened with it.
  public func signOut(_ caller: Caller) throws(ChatError) -> Durability {
    let effects = try mutate { state, effects throws(ChatError) in try state.signOut(caller, &effects) }
    logger.info("account signed out", metadata: ["user": "\(caller.user)", "sessions_ended": "\(effects.ended.count)"])
    log(effects)
    return Durability(effects.stored)
  }

  // MARK: History

  /// A page of a channel's logged events (see `HistoryQuery`). Decided under
  /// the lock; a page reaching below the events held in memory is then read
  /// from the store, after the lock is released.
  public func history(
    _ kind: Channel.Kind, named rawName: String, before: UInt64, after: UInt64, limit: UInt32, by caller: Caller
  ) async throws(ChatError) -> HistoryPage {
    guard !rawName.isEmpty else { throw .emptyChannelName }
    guard before == 0 || after == 0 else { throw .historyBothCursors }
    guard limit <= 100 else { throw .historyLimit(limit) }
    let target: HistoryQuery.Target =
      switch kind {
      case .user: .user(try ChatName.validate(rawName, as: .user))
      case .group: .group(try ChatName.validate(rawName, as: .group))
      }
    let query = HistoryQuery(target: target, before: before, after: after, limit: limit == 0 ? 50 : Int(limit))
    switch try state.withLock({ state throws(ChatError) in try state.history(query, by: caller) }) {
    case .page(let page): return page
    case .read(let read): return try await history(read)
    }
  }

  /// A History page read from the store.
  private func history(_ read: HistoryRead) async throws(ChatError) -> HistoryPage {
    guard let store, let readBack else { return HistoryPage(events: [], hasMore: false) }
    let records: [LogRecord]
    do {
      // One more than the page, to tell whether there are more.
      records = try await store.readLog(
        read.channel, after: read.after, before: read.before, newestFirst: read.newestFirst, limit: read.limit + 1,
        messagesPerChannel: limits.historyLimit
      ).records
    } catch {
      logger.warning("history read failed", metadata: ["channel": "\(read.channel)", "error": "\(error.message)"])
      throw ChatError(error)
    }
    return HistoryPage(events: records.prefix(read.limit).map(readBack), hasMore: records.count > read.limit)
  }

  // MARK: Groups

  @discardableResult
  public func createGroup(_ rawGroup: String, by caller: Caller) throws(ChatError) -> Durability {
    try changeGroup(rawGroup, by: caller, logged: "group created") { state, group, effects throws(ChatError) in
      try state.createGroup(group, by: caller, &effects)
    }
  }

  @discardableResult
  public func joinGroup(_ rawGroup: String, by caller: Caller) throws(ChatError) -> Durability {
    try changeGroup(rawGroup, by: caller, logged: "group joined") { state, group, effects throws(ChatError) in
      try state.joinGroup(group, by: caller, &effects)
    }
  }

  @discardableResult
  public func leaveGroup(_ rawGroup: String, by caller: Caller) throws(ChatError) -> Durability {
    try changeGroup(rawGroup, by: caller, logged: "group left") { state, group, effects throws(ChatError) in
      try state.leaveGroup(group, by: caller, &effects)
    }
  }

  /// Validates the group name, applies `change` under the lock, then logs.
  private func changeGroup(
    _ rawGroup: String, by caller: Caller, logged message: Logger.Message,
    _ change: (inout RegistryState, ChatName, inout Effects) throws(ChatError) -> Void
  ) throws(ChatError) -> Durability {
    let group = try ChatName.validate(rawGroup, as: .group)
    let effects = try mutate { state, effects throws(ChatError) in try change(&state, group, &effects) }
    logger.info(message, metadata: ["group": "\(group)", "user": "\(caller.user)"])
    log(effects)
    return Durability(effects.stored)
  }

  // MARK: Messages

  /// Queues a message for its whole audience and returns its id (its seq)
  /// and when it is durable.
  @discardableResult
  public func send(
    _ text: String, to kind: Channel.Kind, named rawName: String, from caller: Caller
  ) throws(ChatError) -> (id: UInt64, durability: Durability) {
    guard !rawName.isEmpty else { throw .emptyChannelName }
    let target: Target =
      switch kind {
      case .user: .user(try ChatName.validate(rawName, as: .user))
      case .group: .group(try ChatName.validate(rawName, as: .group))
      }
    try MessageText.validate(text)
    var id: UInt64 = 0
    let effects = try mutate { state, effects throws(ChatError) in
      id = try state.send(text, to: target, from: caller, &effects)
    }
    logger.debug(
      "message accepted",
      metadata: ["id": "\(id)", "from": "\(caller.user)", "to": "\(target)", "bytes": "\(text.utf8.count)"])
    log(effects)
    return (id, Durability(effects.stored))
  }

  /// The members of a group the caller is in, sorted case-insensitively.
  public func listMembers(_ rawGroup: String, by caller: Caller) throws(ChatError) -> [MemberSummary] {
    let group = try ChatName.validate(rawGroup, as: .group)
    let members = try state.withLock { state throws(ChatError) in try state.members(of: group, by: caller) }
    return members.sorted { $0.name.key < $1.name.key }
  }

  /// Every connected user, then every group, each sorted case-insensitively.
  public func listChannels(for caller: Caller) throws(ChatError) -> [Channel] {
    let (users, groups) = try state.withLock { state throws(ChatError) in
      _ = try state.user(caller)
      return (state.users.values.filter { !$0.sessions.isEmpty }.map(\.name), state.groups.values.map(\.name))
    }
    return users.sortedByKey().map { Channel(.user, $0.display) } + groups.sortedByKey().map { Channel(.group, $0.display) }
  }

  // MARK: Operator

  /// Ends every session of `rawUser` as kicked; what it left and deleted.
  public func kick(_ rawUser: String, reason: String) throws(ChatError) -> SessionEnded {
    let user = try ChatName.validate(rawUser, as: .user)
    let effects = try mutate { state, effects throws(ChatError) in
      guard state.users[user.key] != nil else { throw .noSuchUser(rawUser) }
      state.endUser(user.key, .kicked(reason: reason), &effects)
    }
    log(effects)
    let kicked = effects.ended.filter { $0.end == .kicked(reason: reason) }
    // A guest leaves its groups with its last session, an account after them.
    return SessionEnded(
      user: kicked.last!.user, session: nil, end: .kicked(reason: reason),
      groupsLeft: kicked.flatMap(\.groupsLeft), groupsDeleted: kicked.flatMap(\.groupsDeleted))
  }

  /// Queues a Notice for every session; returns how many it reached.
  public func broadcast(_ text: String) throws(ChatError) -> Int {
    try MessageText.validate(text)
    let notice = SharedEvent(.notice(text: text))
    var reached = 0
    let effects = try mutate { state, effects in
      reached = state.broadcast(notice, &effects)
    }
    log(effects)
    return reached
  }

  /// Refuses new sessions and calls, and ends every open session with UNAVAILABLE.
  public func shutdown() {
    let (ended, effects) = state.withLock { state in
      var effects = Effects()
      let ended = state.shutdown(&effects)
      state.persist(&effects)
      return (ended, effects)
    }
    wake(effects)
    logger.notice(
      "sessions ended for shutdown",
      metadata: [
        "sessions": "\(ended)",
        "events_written": "\(eventsWritten.load(ordering: .relaxed))",
        "writes": "\(batchesWritten.load(ordering: .relaxed))",
      ])
  }

  // MARK: Reading

  /// Counts, in constant time.
  public func counts() -> RegistryCounts {
    var counts = state.withLock { state in
      RegistryCounts(
        users: state.onlineUsers, sessions: state.sessionCount, groups: state.groups.count,
        startedAt: state.startedAt, messagesAccepted: state.messagesAccepted, eventsQueued: state.eventsQueued,
        sessionsEnded: state.sessionsEnded)
    }
    counts.eventsWritten = eventsWritten.load(ordering: .relaxed)
    counts.batchesWritten = batchesWritten.load(ordering: .relaxed)
    return counts
  }

  /// Every group's sessions are its members' open sessions (for tests).
  var memberSessionsAreConsistent: Bool { state.withLock { $0.memberSessionsAreConsistent() } }

  /// A consistent copy of the registry's contents: copied under the lock,
  /// sorted after it.
  public func snapshot() -> RegistrySnapshot {
    let (users, groups) = state.withLock { state in
      (
        state.users.values.filter { !$0.sessions.isEmpty }.map { user in
          (user, user.groups.map { state.groups[$0]!.name })
        },
        state.groups.values.map { group in
          (group.name, group.members.map { state.users[$0]!.name })
        }
      )
    }
    return RegistrySnapshot(
      users: users.map { user, groups in
        RegistrySnapshot.User(
          name: user.name.display, account: user.account != nil, sessions: user.sessions.keys.sorted(),
          connectedAt: user.sessions.values.map(\.connectedAt).min()!, groups: groups.sortedByKey().map(\.display))
      }.sorted { $0.name.lowercased() < $1.name.lowercased() },
      groups: groups.map { name, members in
        RegistrySnapshot.Group(name: name.display, members: members.sortedByKey().map(\.display))
      }.sorted { $0.name.lowercased() < $1.name.lowercased() })
  }

  /// Every account, sorted case-insensitively: sessions, groups, last seen.
  public func accounts() -> [AccountSummary] {
    let found = state.withLock { state in
      state.users.values.compactMap { user in
        user.account.map { account in
          AccountSummary(
            name: user.name.display, sessions: user.sessions.count,
            groups: user.groups.compactMap { state.groups[$0]?.name.display }, lastSeen: account.lastSeen)
        }
      }
    }
    return found.sorted { $0.name.lowercased() < $1.name.lowercased() }
  }

  /// The open sessions of `name` (guest or account), oldest first; nil if no such user.
  public func sessions(of name: ChatName) -> (user: String, account: Bool, sessions: [SessionSummary])? {
    let found = state.withLock { state in
      state.users[name.key].map { user in (user.name.display, user.account != nil, Array(user.sessions.values)) }
    }
    // Sorted, and each queue asked, after the registry's lock is released.
    return found.map { user, account, sessions in
      (
        user, account,
        sessions.sorted { $0.tag < $1.tag }.map {
          SessionSummary(tag: $0.tag, connectedAt: $0.connectedAt, queuedEvents: $0.queue.pendingCount)
        }
      )
    }
  }

  /// How many channels the in-memory log holds (tests check what is forgotten).
  var retainedChannels: Int { state.withLock { $0.log.channels.count } }

  /// How many logged events memory holds (tests check the tail stays bounded).
  var eventsInMemory: Int { state.withLock { $0.log.channels.values.reduce(0) { $0 + $1.retained.count } } }

  /// The names of connected users, unsorted (for completion).
  public func userNames() -> [String] {
    state.withLock { $0.users.values.map(\.name.display) }
  }

  /// The names of the groups, unsorted (for completion).
  public func groupNames() -> [String] {
    state.withLock { $0.groups.values.map(\.name.display) }
  }

  /// The group's members, sorted case-insensitively; nil if there is no such group.
  public func members(ofGroup group: ChatName) -> (group: String, members: [MemberSummary])? {
    let found = state.withLock { state in
      state.groups[group.key].map { ($0.name.display, state.members(of: $0)) }
    }
    return found.map { ($0.0, $0.1.sorted { $0.name.key < $1.name.key }) }
  }

  // MARK: Presence

  /// Announces the accounts whose `--presence-grace` has passed since
  /// their last session ended; returns when the next one is due.
  @discardableResult
  func expirePresence(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
    let (next, effects) = state.withLock { state in
      var effects = Effects()
      let next = state.expirePresence(now: now, &effects)
      state.endFailedSessions(&effects)
      state.persist(&effects)
      return (next, effects)
    }
    finish(effects)
    return next
  }

  /// Announces accounts offline as their grace passes, until cancelled
  /// (`RegistryService` runs it). One task serves every account: the grace
  /// is the same for all, so they fall due in the order they went offline.
  public func runPresenceTimer() async {
    var rings = presenceRings.makeAsyncIterator()
    while !Task.isCancelled {
      if let due = expirePresence(now: clock()) {
        do { try await Task.sleep(until: due, clock: .continuous) } catch { return }
      } else if await rings.next() == nil {
        return
      }
    }
  }

  /// Counts a batch of events a Connect handler has written to `session`'s
  /// stream, and moves its account's position past them.
  public func recordWritten(_ batch: [SharedEvent], to session: Session) {
    eventsWritten.add(batch.count, ordering: .relaxed)
    batchesWritten.add(1, ordering: .relaxed)
    guard let position = session.accountPosition else { return }
    // A written Welcome moves the position to where the stream starts: what
    // came before was replayed, or the client was told it was not.
    for event in batch.reversed() {
      if event.seq > 0 {
        position.advance(to: event.seq)
        return
      }
      if case .welcome(let welcome) = event.event.kind {
        position.advance(to: welcome.position.seq)
        return
      }
    }
  }

  // MARK: Helpers

  private func mutate(
    _ body: (inout RegistryState, inout Effects) throws(ChatError) -> Void
  ) throws(ChatError) -> Effects {
    // Handlers given an event before a failure must still be woken.
    let (effects, failure) = state.withLock { state -> (Effects, ChatError?) in
      var effects = Effects()
      do throws(ChatError) {
        try body(&state, &effects)
      } catch {
        return (effects, error)
      }
      state.endFailedSessions(&effects)
      state.persist(&effects)
      return (effects, nil)
    }
    wake(effects)
    if let failure { throw failure }
    return effects
  }

  /// Wakes and logs what a critical section did.
  private func finish(_ effects: Effects) {
    wake(effects)
    log(effects)
  }

  /// Resumes the Connect handlers the critical section gave events or
  /// ended, and the store's writer if it has work.
  private func wake(_ effects: Effects) {
    if let stored = effects.stored, stored.needsWake { store?.wakeWriter() }
    if effects.presenceTimerArmed { presenceDoorbell.yield() }
    for wakeup in effects.wakeups { wakeup.resume() }
  }

  private func log(_ effects: Effects) {
    for ended in effects.ended {
      let level: Logger.Level = ended.end == .disconnected ? .info : .notice
      var metadata: Logger.Metadata = [
        "user": "\(ended.user)", "session": "\(ended.session.map(String.init(describing:)) ?? "-")",
        "reason": "\(ended.end.label)",
        "groups_left": "\(ended.groupsLeft.count)", "groups_deleted": "\(ended.groupsDeleted.count)",
      ]
      if case .slowConsumer(let bytes) = ended.end { metadata["queued_bytes"] = "\(bytes)" }
      logger.log(level: level, "user disconnected", metadata: metadata)
    }
    for group in effects.groupsDeleted {
      logger.info("group deleted", metadata: ["group": "\(group)"])
    }
  }
}

extension Sequence<ChatName> {
  /// Case-insensitive order, as every listing shows names.
  func sortedByKey() -> [ChatName] { sorted { $0.key < $1.key } }
}

/// When a change is durable: SendMessage and the other calls that change
/// what the store keeps answer OK only after it.
public struct Durability: Sendable {
  let submission: StoreSubmission?

  init(_ submission: StoreSubmission?) {
    self.submission = submission
  }

  /// Nothing to wait for (an in-memory registry, or nothing stored).
  public var isImmediate: Bool { submission == nil }

  /// Waits for the store's commit; `.storeUnavailable` if it failed.
  /// Bounded by the caller's cancellation (an RPC's deadline cancels it).
  public func wait() async throws {
    guard let submission else { return }
    do {
      try await submission.acknowledgement.waitUntimed()
    } catch let error as StoreError {
      throw ChatError(error)
    }
  }
}

extension ChatError {
  /// What a caller is told when the store fails it.
  init(_ error: StoreError) {
    switch error {
    case .unavailable(let reason): self = .storeUnavailable(reason)
    case .closed: self = .shuttingDown
    default: self = .storeUnavailable(error.message)
    }
  }
}
