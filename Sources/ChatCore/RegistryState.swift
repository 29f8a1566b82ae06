import Foundation

/// What happened inside one critical section that the registry acts on
/// (wakes, logs) after releasing the lock.
struct Effects {
  var ended: [SessionEnded] = []
  var groupsDeleted: [String] = []
  /// Sessions whose queue refused an event; ended before the lock is released.
  var failed: [(Session, SessionEnd)] = []
  /// Connect handlers to wake once the lock is released.
  var wakeups: [SessionQueue.Wakeup] = []
}

/// The registry's data. Only `ChatRegistry` touches it, always under its lock.
///
/// Users hold their sessions, groups hold user keys: an event addressed to
/// a user reaches each of its sessions. Collections are mutated in place
/// (`groups[key]!.members.insert(…)`), never copied out and written back,
/// so joining or leaving a group costs the same whatever its size.
struct RegistryState {
  struct User {
    /// As first registered.
    let name: ChatName
    var sessions: [SessionTag: Session] = [:]
    /// Keys of the groups the user is in.
    var groups: Set<String> = []
    /// Rate limiting of state-changing calls (nil when limiting is off).
    var bucket: TokenBucket?
  }

  struct Group {
    let name: ChatName
    /// User keys.
    var members: Set<String>
  }

  var users: [String: User] = [:]
  /// Callers by session token, for `--auth session`.
  var callersByToken: [String: Caller] = [:]
  var groups: [String: Group] = [:]
  var sessionCount = 0
  var nextSessionTag: UInt64 = 1
  var nextMessageID: UInt64 = 1
  var shuttingDown = false
  let startedAt: Date
  let limits: RegistryLimits
  var messagesAccepted = 0
  var eventsQueued = 0
  var sessionsEnded: [String: Int] = [:]

  init(startedAt: Date, limits: RegistryLimits) {
    self.startedAt = startedAt
    self.limits = limits
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
      guard let user = users[credential.lowercased()], let session = user.sessions.values.first else {
        throw .unknownCaller(credential)
      }
      caller = session.caller
    case .session:
      guard let found = callersByToken[credential] else { throw .unknownSessionToken(length: credential.count) }
      caller = found
    }
    if charge, let limit = limits.rateLimit, let retryAfter = users[caller.user.key]!.bucket?.take(limit, now: now) {
      throw .rateLimited(user: caller.user.display, limit: limit, retryAfter: retryAfter)
    }
    return caller
  }

  /// The caller's user, if the caller's session is still open.
  func user(_ caller: Caller) throws(ChatError) -> User {
    guard !shuttingDown else { throw .shuttingDown }
    guard let user = users[caller.user.key], user.sessions[caller.session] != nil else {
      throw .sessionEnded(caller.user.display)
    }
    return user
  }

  // MARK: Sessions

  mutating func connect(_ name: ChatName) throws(ChatError) -> Session {
    guard !shuttingDown else { throw .shuttingDown }
    guard users[name.key] == nil else { throw .userAlreadyConnected(name.display) }
    guard sessionCount < limits.maxSessions else { throw .tooManySessions(limit: limits.maxSessions) }
    let session = Session(user: name, tag: SessionTag(value: nextSessionTag), queueLimit: limits.maxQueueBytes)
    nextSessionTag += 1
    var user = User(name: name, bucket: limits.rateLimit.map { TokenBucket($0, now: .now) })
    user.sessions[session.tag] = session
    users[name.key] = user
    callersByToken[session.token] = session.caller
    sessionCount += 1
    // A new queue is empty: Welcome is always its first event.
    _ = session.queue.enqueue(SharedEvent(.welcome(username: name.display, sessionToken: session.token)))
    eventsQueued += 1
    return session
  }

  /// Removes `session` (if it is still open) from the registry; with the
  /// user's last session the user leaves every group, the remaining
  /// members being told why.
  mutating func endSession(_ session: Session, _ end: SessionEnd, _ effects: inout Effects) {
    let key = session.user.key
    guard users[key]?.sessions[session.tag] === session else { return }
    users[key]!.sessions[session.tag] = nil
    callersByToken[session.token] = nil
    sessionCount -= 1
    sessionsEnded[end.label, default: 0] += 1
    if let wakeup = session.queue.close(end) { effects.wakeups.append(wakeup) }
    var left: [String] = []
    let deletedBefore = effects.groupsDeleted.count
    if users[key]!.sessions.isEmpty {
      let user = users.removeValue(forKey: key)!
      for groupKey in user.groups.sorted() {
        left.append(groups[groupKey]!.name.display)
        removeMember(key, named: user.name.display, from: groupKey, reason: end.leaveReason, &effects)
      }
    }
    effects.ended.append(
      SessionEnded(
        user: session.user.display, session: session.tag, end: end, groupsLeft: left,
        groupsDeleted: Array(effects.groupsDeleted[deletedBefore...])))
  }

  /// Ends every session of the user named `key`.
  mutating func endUser(_ key: String, _ end: SessionEnd, _ effects: inout Effects) {
    for session in users[key]?.sessions.values.sorted(by: { $0.tag < $1.tag }) ?? [] {
      endSession(session, end, &effects)
    }
  }

  /// Ends, one by one, the sessions whose queues refused an event (which can
  /// make more queues refuse the MemberLeft events that follow).
  mutating func endFailedSessions(_ effects: inout Effects) {
    while let (session, end) = effects.failed.popLast() {
      endSession(session, end, &effects)
    }
  }

  /// Ends every session with UNAVAILABLE and forgets all groups; returns how many ended.
  mutating func shutdown(_ effects: inout Effects) -> Int {
    shuttingDown = true
    var ended = 0
    for user in users.values {
      for session in user.sessions.values {
        if let wakeup = session.queue.close(.shutdown) { effects.wakeups.append(wakeup) }
        ended += 1
      }
    }
    sessionsEnded[SessionEnd.shutdown.label, default: 0] += ended
    users = [:]
    callersByToken = [:]
    groups = [:]
    sessionCount = 0
    return ended
  }

  // MARK: Groups

  mutating func createGroup(_ name: ChatName, by caller: Caller, _ effects: inout Effects) throws(ChatError) {
    let user = try user(caller)
    guard groups[name.key] == nil else { throw .groupAlreadyExists(name.display) }
    guard groups.count < limits.maxGroups else { throw .tooManyGroups(limit: limits.maxGroups) }
    try checkGroupsPerUser(user)
    groups[name.key] = Group(name: name, members: [caller.user.key])
    users[caller.user.key]!.groups.insert(name.key)
    let joined = SharedEvent(.memberJoined(group: name.display, user: user.name.display))
    deliver(joined, toUser: caller.user.key, &effects)
  }

  mutating func joinGroup(_ name: ChatName, by caller: Caller, _ effects: inout Effects) throws(ChatError) {
    let user = try user(caller)
    guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
    guard !group.members.contains(caller.user.key) else {
      throw .alreadyMember(group: group.name.display, user: user.name.display)
    }
    try checkGroupsPerUser(user)
    groups[name.key]!.members.insert(caller.user.key)
    users[caller.user.key]!.groups.insert(name.key)
    let joined = SharedEvent(.memberJoined(group: group.name.display, user: user.name.display))
    deliver(joined, toMembersOf: name.key, &effects)
  }

  mutating func leaveGroup(_ name: ChatName, by caller: Caller, _ effects: inout Effects) throws(ChatError) {
    let user = try user(caller)
    guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
    guard group.members.contains(caller.user.key) else {
      throw .notMemberCannotLeave(group: group.name.display, user: user.name.display)
    }
    users[caller.user.key]!.groups.remove(name.key)
    removeMember(caller.user.key, named: user.name.display, from: name.key, reason: .left, &effects)
  }

  // MARK: Messages

  mutating func send(
    _ text: String, to target: Target, from caller: Caller, _ effects: inout Effects
  ) throws(ChatError) -> UInt64 {
    let sender = try user(caller)
    let id = nextMessageID
    switch target {
    case .user(let name):
      guard let recipient = users[name.key] else { throw .noSuchUser(name.display) }
      let event = message(id, text, from: sender.name, to: Channel(.user, recipient.name.display))
      deliver(event, toUser: name.key, &effects)
      if name.key != caller.user.key { deliver(event, toUser: caller.user.key, &effects) }
    case .group(let name):
      guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
      guard group.members.contains(caller.user.key) else {
        throw .notMemberCannotSend(group: group.name.display, user: sender.name.display)
      }
      let event = message(id, text, from: sender.name, to: Channel(.group, group.name.display))
      deliver(event, toMembersOf: name.key, &effects)
    }
    nextMessageID += 1
    messagesAccepted += 1
    return id
  }

  mutating func broadcast(_ notice: SharedEvent, _ effects: inout Effects) -> Int {
    var reached = 0
    for key in users.keys {
      for session in users[key]!.sessions.values where deliver(notice, to: session, &effects) {
        reached += 1
      }
    }
    return reached
  }

  // MARK: Private

  private func checkGroupsPerUser(_ user: User) throws(ChatError) {
    guard user.groups.count < limits.maxGroupsPerUser else {
      throw .tooManyGroupsForUser(user: user.name.display, limit: limits.maxGroupsPerUser)
    }
  }

  private mutating func removeMember(
    _ userKey: String, named user: String, from groupKey: String, reason: LeaveReason, _ effects: inout Effects
  ) {
    guard groups[groupKey]?.members.remove(userKey) != nil else { return }
    let group = groups[groupKey]!
    if group.members.isEmpty {
      groups[groupKey] = nil
      effects.groupsDeleted.append(group.name.display)
      return
    }
    let left = SharedEvent(.memberLeft(group: group.name.display, user: user, reason: reason))
    deliver(left, toMembersOf: groupKey, &effects)
  }

  private mutating func deliver(_ event: SharedEvent, toMembersOf groupKey: String, _ effects: inout Effects) {
    // A copy of the set's reference, not of its elements: nothing mutates it while we iterate.
    let members = groups[groupKey]!.members
    for key in members { deliver(event, toUser: key, &effects) }
  }

  private mutating func deliver(_ event: SharedEvent, toUser key: String, _ effects: inout Effects) {
    guard let sessions = users[key]?.sessions.values else { return }
    for session in sessions { deliver(event, to: session, &effects) }
  }

  /// Queues `event` for `session`; false if its queue refused it.
  @discardableResult
  private mutating func deliver(_ event: SharedEvent, to session: Session, _ effects: inout Effects) -> Bool {
    let (result, wakeup) = session.queue.enqueue(event)
    if let wakeup { effects.wakeups.append(wakeup) }
    switch result {
    case .queued:
      eventsQueued += 1
      return true
    case .closed(let end):
      effects.failed.append((session, end))
      return false
    }
  }

  private func message(_ id: UInt64, _ text: String, from sender: ChatName, to channel: Channel) -> SharedEvent {
    SharedEvent(.message(ChatMessage(id: id, sender: sender.display, channel: channel, text: text)))
  }
}

/// Where a message goes, validated.
enum Target: CustomStringConvertible {
  case user(ChatName)
  case group(ChatName)

  var description: String {
    switch self {
    case .user(let name): "@\(name)"
    case .group(let name): "#\(name)"
    }
  }
}
