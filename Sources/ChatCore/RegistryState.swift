import ChatStore
import Foundation

/// What happened inside one critical section that the registry acts on
/// (wakes, logs, awaits) after releasing the lock.
struct Effects {
  var ended: [SessionEnded] = []
  var groupsDeleted: [String] = []
  /// Sessions whose queue refused an event; ended before the lock is released.
  var failed: [(Session, SessionEnd)] = []
  /// Connect handlers to wake once the lock is released.
  var wakeups: [SessionQueue.Wakeup] = []
  /// An account's offline announcement was scheduled into an empty queue:
  /// the presence timer must be told.
  var presenceTimerArmed = false
  /// What the store must keep, queued at the end of the critical section.
  var storeOperations: [StoreOperation] = []
  /// The store's outcome for them, and whether its writer needs waking.
  var stored: StoreSubmission?
}

/// The registry's data. Only `ChatRegistry` touches it, always under its lock.
///
/// Users hold their sessions, groups hold user keys: an event addressed to
/// a user reaches each of its sessions. A group also holds its members' open
/// sessions (`MemberSessions`), which its fan-out walks. Collections are mutated in place
/// (`groups[key]!.members.insert(…)`), never copied out and written back,
/// so joining or leaving a group costs the same whatever its size.
///
/// A guest exists while it has a session; an account exists until deleted,
/// keeps its groups while offline, and may hold several sessions.
struct RegistryState {
  struct User {
    /// As first registered.
    let name: ChatName
    var sessions: [SessionTag: Session] = [:]
    /// Keys of the groups the user is in.
    var groups: Set<String> = []
    /// Rate limiting of state-changing calls (nil when limiting is off).
    var bucket: TokenBucket?
    /// nil for a guest.
    var account: Account?
    /// A guest's direct-message channels: forgotten with the last guest who can read them.
    var guestChannels: Set<String> = []

    /// The sessions, read through the dictionary's in-place accessor
    /// (`users[key]?.sessionsInPlace()`): `users[key]?.sessions` gets a copy
    /// of the whole User first, a dozen retains and releases on every
    /// delivery of a fan-out.
    mutating func sessionsInPlace() -> Dictionary<SessionTag, Session>.Values { sessions.values }
  }

  /// What an account has beyond a guest.
  struct Account {
    /// The password's hash as the hasher encoded it; nil for an account made by a JWT.
    var passwordHash: Data?
    let created: Date
    let position: AccountPosition
    /// Current groups: the seq of the account's MemberJoined.
    var joinedAt: [String: UInt64] = [:]
    /// Groups it left, with what it saw of them, for catch-up.
    var pastMemberships: [PastMembership] = []
    /// Log channels of its direct messages.
    var directChannels: Set<String> = []
    /// When its last session ended; nil while online.
    var lastSeen: Date?
    /// Others were told it is online (it may be within the grace after its
    /// last session ended).
    var announcedOnline = false
    /// Counts its offline periods, so a scheduled offline announcement
    /// that a reconnect overtook is recognised and skipped.
    var offlineGeneration: UInt64 = 0
  }

  struct PastMembership {
    let group: String
    /// Its MemberJoined's seq; it saw events with `since <= seq < until`.
    let since: UInt64
    let until: UInt64
  }

  struct TokenEntry {
    let account: String
    let expires: Date
    /// A JWT admitted by its signature (not issued here).
    var isJWT = false
  }

  var users: [String: User] = [:]
  /// Callers by session token, for `--auth session`.
  var callersByToken: [String: Caller] = [:]
  /// Accounts' bearer tokens, by hash.
  var tokens: [TokenHash: TokenEntry] = [:]
  /// Signed-out JWTs, until they expire: a JWT stays valid by its signature,
  /// so revoking one means remembering it.
  var revokedJWTs: [TokenHash: Date] = [:]
  var groups: [String: Group] = [:]
  var log: EventLog
  var sessionCount = 0
  var onlineUsers = 0
  var accountCount = 0
  var nextSessionTag: UInt64 = 1
  var shuttingDown = false
  let startedAt: Date
  let limits: RegistryLimits
  let persistence: Persistence?
  /// The lobby (`--lobby`): every session joins it on Connect.
  let lobbyName: ChatName?
  var lobby: String? { lobbyName?.key }
  /// Offline announcements in due order (the grace is constant, so
  /// appending keeps the order); `pendingOfflineHead` is the first not yet due.
  var pendingOffline: [PendingOffline] = []
  var pendingOfflineHead = 0
  /// When presence graces start (tests move it by hand).
  let clock: @Sendable () -> ContinuousClock.Instant
  var messagesAccepted = 0
  var eventsQueued = 0
  var sessionsEnded: [String: Int] = [:]

  struct Group {
    let name: ChatName
    /// User keys.
    var members: Set<String>
    /// The members' open sessions: what a fan-out walks.
    var sessions = MemberSessions()
    /// The seq of the event that created it: its History starts there.
    var createdSeq: UInt64 = 0
    /// An account has been a member (its log may be needed for catch-up).
    var hadAccounts = false
    /// The lobby: never deleted, even with no member left.
    var permanent = false
  }

  /// An offline announcement waiting for the grace to pass.
  struct PendingOffline {
    let due: ContinuousClock.Instant
    let account: String
    let generation: UInt64
  }

  /// Where logged events and account state go to outlive the process.
  struct Persistence {
    let store: any Store
    /// The stored form of a logged event.
    let encode: @Sendable (SharedEvent) -> [UInt8]
  }

  init(
    startedAt: Date, limits: RegistryLimits, epoch: String, persistence: Persistence?, lobby: ChatName? = nil,
    clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
  ) {
    self.clock = clock
    self.startedAt = startedAt
    self.limits = limits
    self.persistence = persistence
    self.lobbyName = lobby
    // With a store, memory holds each channel's newest --max-replay events;
    // History reads older ones from the store.
    self.log = EventLog(
      epoch: epoch, messagesPerChannel: limits.historyLimit, tailLimit: persistence == nil ? nil : limits.maxReplay)
  }

  // MARK: Callers

  mutating func authenticate(
    _ credential: String, mode: AuthMode, charge: Bool, now: ContinuousClock.Instant
  ) throws(ChatError) -> Caller {
    guard !shuttingDown else { throw .shuttingDown }
    let caller: Caller
    switch mode {
    case .username:
      // A guest has one session; the call acts for it.
      guard let user = users[credential.lowercased()] else { throw .unknownCaller(credential) }
      guard user.account == nil else { throw .nameRegistered(user.name.display) }
      guard let session = user.sessions.values.first else { throw .unknownCaller(credential) }
      caller = session.caller
    case .session:
      guard let found = callersByToken[credential] else { throw .unknownSessionToken(length: credential.count) }
      caller = found
    }
    try chargeRateLimit(caller, if: charge, now: now)
    return caller
  }

  /// The account an access token (by its hash) belongs to.
  mutating func authenticate(
    token: TokenHash, charge: Bool, now: ContinuousClock.Instant, date: Date
  ) throws(ChatError) -> Caller {
    guard !shuttingDown else { throw .shuttingDown }
    let key = try accountKey(for: token, date: date)
    let caller = Caller(user: users[key]!.name, session: nil, tokenHash: token)
    try chargeRateLimit(caller, if: charge, now: now)
    return caller
  }

  func accountKey(for token: TokenHash, date: Date) throws(ChatError) -> String {
    guard let entry = tokens[token], users[entry.account]?.account != nil else { throw .invalidToken(expired: false) }
    guard entry.expires > date else { throw .invalidToken(expired: true) }
    return entry.account
  }

  private mutating func chargeRateLimit(_ caller: Caller, if charge: Bool, now: ContinuousClock.Instant) throws(ChatError) {
    if charge, let limit = limits.rateLimit, let retryAfter = users[caller.user.key]!.bucket?.take(limit, now: now) {
      throw .rateLimited(user: caller.user.display, limit: limit, retryAfter: retryAfter)
    }
  }

  /// The caller's user, if the caller's session is still open (or, for an
  /// account's call, its token still valid).
  func user(_ caller: Caller) throws(ChatError) -> User {
    guard !shuttingDown else { throw .shuttingDown }
    guard let user = users[caller.user.key] else { throw .sessionEnded(caller.user.display) }
    if let session = caller.session {
      guard user.sessions[session] != nil else { throw .sessionEnded(caller.user.display) }
    } else if let token = caller.tokenHash {
      guard tokens[token]?.account == caller.user.key else { throw .tokenRevoked(caller.user.display) }
    }
    return user
  }

  // MARK: Sessions

  /// A guest's session: Welcome, then (with a lobby) its MemberJoined.
  mutating func connect(_ name: ChatName, _ effects: inout Effects) throws(ChatError) -> Session {
    guard !shuttingDown else { throw .shuttingDown }
    if let existing = users[name.key] {
      if existing.account != nil { throw .nameRegistered(existing.name.display) }
      throw .userAlreadyConnected(name.display)
    }
    guard sessionCount < limits.maxSessions else { throw .tooManySessions(limit: limits.maxSessions) }
    let session = Session(
      user: name, tag: SessionTag(value: nextSessionTag), queueLimit: limits.maxQueueBytes, startSeq: log.lastSeq)
    users[name.key] = User(name: name, bucket: limits.rateLimit.map { TokenBucket($0, now: .now) })
    open(session)
    // A new queue is empty: Welcome is always its first event.
    let welcome = Welcome(username: name.display, sessionToken: session.token, position: log.position)
    _ = session.queue.enqueue(SharedEvent(.welcome(welcome)))
    eventsQueued += 1
    joinLobby(name.key, &effects)
    return session
  }

  /// A session of the account `token` belongs to: Welcome, then what it
  /// missed since `resume` (or its own position), all or none.
  mutating func connect(
    token: TokenHash, requested: ChatName?, resume: LogPosition?, date: Date, stored: [PastRange: [SharedEvent]?] = [:],
    _ effects: inout Effects
  ) throws(ChatError) -> Session {
    guard !shuttingDown else { throw .shuttingDown }
    let key = try accountKey(for: token, date: date)
    let user = users[key]!
    let account = user.account!
    if let requested, requested.key != key {
      throw .connectNameMismatch(requested: requested.display, account: user.name.display)
    }
    guard user.sessions.count < limits.maxSessionsPerUser else {
      throw .tooManySessionsForUser(user: user.name.display, limit: limits.maxSessionsPerUser)
    }
    guard sessionCount < limits.maxSessions else { throw .tooManySessions(limit: limits.maxSessions) }
    let session = Session(
      user: user.name, tag: SessionTag(value: nextSessionTag), queueLimit: limits.maxQueueBytes,
      startSeq: log.lastSeq, tokenHash: token, accountPosition: account.position)
    open(session)
    users[key]!.account!.lastSeen = nil
    var reads: [PastRange] = []
    let missed = catchUpStart(account, resume).flatMap {
      missedEvents(of: account, after: $0, stored: stored, reads: &reads)
    }
    let replayed = missed?.reduce(0) { $0 + $1.count } ?? 0
    var welcome = Welcome(username: user.name.display, sessionToken: session.token, position: log.position)
    welcome.account = true
    welcome.recovered = missed != nil
    welcome.replayed = replayed
    _ = session.queue.enqueue(SharedEvent(.welcome(welcome)))
    if let missed, !missed.isEmpty { session.queue.enqueueReplay(missed) }
    eventsQueued += 1 + replayed
    if user.sessions.isEmpty { cameOnline(key, &effects) }
    joinLobby(key, &effects)
    return session
  }

  private mutating func open(_ session: Session) {
    nextSessionTag += 1
    let key = session.user.key
    if users[key]!.sessions.isEmpty { onlineUsers += 1 }
    users[key]!.sessions[session.tag] = session
    for groupKey in users[key]!.groups { groups[groupKey]?.sessions.insert(session) }
    callersByToken[session.token] = session.caller
    sessionCount += 1
  }

  /// Removes `session` (if it is still open) from the registry. A guest
  /// leaves every group with its last session, the remaining members being
  /// told why; an account stays in its groups.
  mutating func endSession(_ session: Session, _ end: SessionEnd, _ effects: inout Effects) {
    let key = session.user.key
    guard users[key]?.sessions[session.tag] === session else { return }
    users[key]!.sessions[session.tag] = nil
    for groupKey in users[key]!.groups { groups[groupKey]?.sessions.remove(session) }
    callersByToken[session.token] = nil
    sessionCount -= 1
    sessionsEnded[end.label, default: 0] += 1
    if let wakeup = session.queue.close(end) { effects.wakeups.append(wakeup) }
    var left: [String] = []
    let deletedBefore = effects.groupsDeleted.count
    if users[key]!.sessions.isEmpty {
      onlineUsers -= 1
      if let account = users[key]!.account {
        users[key]!.account!.lastSeen = Date()
        effects.storeOperations.append(.setPosition(account: key, seq: account.position.seq))
        wentOffline(key, now: clock(), &effects)
      } else {
        let user = users.removeValue(forKey: key)!
        for groupKey in user.groups.sorted() {
          left.append(groups[groupKey]!.name.display)
          removeMember(key, named: user.name.display, from: groupKey, reason: end.leaveReason, &effects)
        }
        // A later guest of either name never reads these; an account or a
        // guest still connected keeps the channel until it goes too.
        for channel in user.guestChannels {
          guard let (a, b) = EventLog.directParties(channel) else { continue }
          if users[a == key ? b : a] == nil { dropChannel(channel, &effects) }
        }
      }
    }
    effects.ended.append(
      SessionEnded(
        user: session.user.display, session: session.tag, end: end, groupsLeft: left,
        groupsDeleted: Array(effects.groupsDeleted[deletedBefore...])))
  }

  /// Ends every session of the user named `key`; an account also leaves
  /// every group (a guest does with its last session).
  mutating func endUser(_ key: String, _ end: SessionEnd, _ effects: inout Effects) {
    for session in users[key]?.sessions.values.sorted(by: { $0.tag < $1.tag }) ?? [] {
      endSession(session, end, &effects)
    }
    guard let user = users[key], user.account != nil else { return }
    let deletedBefore = effects.groupsDeleted.count
    var left: [String] = []
    for groupKey in user.groups.sorted() {
      left.append(groups[groupKey]!.name.display)
      users[key]!.groups.remove(groupKey)
      removeMember(key, named: user.name.display, from: groupKey, reason: end.leaveReason, &effects)
    }
    if !left.isEmpty || user.sessions.isEmpty {
      effects.ended.append(
        SessionEnded(
          user: user.name.display, session: nil, end: end, groupsLeft: left,
          groupsDeleted: Array(effects.groupsDeleted[deletedBefore...])))
    }
  }

  /// Ends, one by one, the sessions whose queues refused an event (which can
  /// make more queues refuse the MemberLeft events that follow).
  mutating func endFailedSessions(_ effects: inout Effects) {
    while let (session, end) = effects.failed.popLast() {
      endSession(session, end, &effects)
    }
  }

  /// Ends every session with UNAVAILABLE; returns how many ended. Accounts'
  /// positions are stored; guests and their groups are forgotten.
  mutating func shutdown(_ effects: inout Effects) -> Int {
    shuttingDown = true
    var ended = 0
    for (key, user) in users {
      for session in user.sessions.values {
        if let wakeup = session.queue.close(.shutdown) { effects.wakeups.append(wakeup) }
        ended += 1
      }
      if let account = user.account, !user.sessions.isEmpty {
        effects.storeOperations.append(.setPosition(account: key, seq: account.position.seq))
      }
    }
    sessionsEnded[SessionEnd.shutdown.label, default: 0] += ended
    users = [:]
    callersByToken = [:]
    groups = [:]
    pendingOffline = []
    pendingOfflineHead = 0
    sessionCount = 0
    onlineUsers = 0
    return ended
  }

  /// Forgets a channel's log, in memory and in the store.
  mutating func dropChannel(_ channel: String, _ effects: inout Effects) {
    log.drop(channel)
    effects.storeOperations.append(.deleteChannel(channel))
  }

  /// Queues the critical section's store operations, in the order decided.
  mutating func persist(_ effects: inout Effects) {
    guard !effects.storeOperations.isEmpty, let persistence else { return }
    effects.stored = persistence.store.enqueue(effects.storeOperations)
    effects.storeOperations = []
  }
}
