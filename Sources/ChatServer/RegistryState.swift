import ChatAPI
import Foundation

/// What happened inside one critical section that the registry reports (logs)
/// after releasing the lock.
struct Effects {
  var ended: [SessionEnded] = []
  var groupsDeleted: [String] = []
  /// Sessions whose queue refused an event; ended before the lock is released.
  var failed: [(Session, SessionEnd)] = []
  /// Connect handlers to wake once the lock is released.
  var wakeups: [SessionQueue.Wakeup] = []
}

/// The registry's data. Only `ChatRegistry` touches it, always under its lock.
struct RegistryState {
  struct User {
    let session: Session
    /// Keys of the groups the user is in.
    var groups: Set<String> = []
    /// Rate limiting of state-changing calls (nil when limiting is off).
    var bucket: TokenBucket?
  }

  struct Group {
    let name: ChatName
    /// Sessions of the members, by user key.
    var members: [String: Session]
  }

  var users: [String: User] = [:]
  /// User keys by session id, for `--auth session`.
  var userKeysBySessionID: [String: String] = [:]
  var groups: [String: Group] = [:]
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

  mutating func authenticate(
    _ credential: String, mode: AuthMode, charge: Bool, now: ContinuousClock.Instant
  ) throws(ChatError) -> String {
    let key: String
    switch mode {
    case .username:
      key = credential.lowercased()
      guard users[key] != nil else { throw .unknownCaller(credential) }
    case .session:
      guard let found = userKeysBySessionID[credential] else { throw .unknownSessionToken(credential) }
      key = found
    }
    let name = users[key]!.session.name.display
    if charge, let limit = limits.rateLimit, let retryAfter = users[key]!.bucket?.take(limit, now: now) {
      throw .rateLimited(user: name, limit: limit, retryAfter: retryAfter)
    }
    return name
  }

  /// The connected user a call's authorization named.
  func user(_ caller: String) throws(ChatError) -> User {
    guard let user = users[caller.lowercased()] else { throw .unknownCaller(caller) }
    return user
  }

  mutating func connect(_ session: Session) throws(ChatError) {
    guard !shuttingDown else { throw .shuttingDown }
    guard users[session.name.key] == nil else { throw .userAlreadyConnected(session.name.display) }
    guard users.count < limits.maxSessions else { throw .tooManySessions(limit: limits.maxSessions) }
    users[session.name.key] = User(
      session: session, bucket: limits.rateLimit.map { TokenBucket($0, now: .now) })
    userKeysBySessionID[session.id] = session.name.key
    let welcome = Chat_V1_Welcome.with {
      $0.username = session.name.display
      $0.sessionID = session.id
    }
    // A new queue is empty: Welcome is always its first event.
    _ = session.queue.enqueue(EncodedEvent(.welcome(welcome), at: Date()))
    eventsQueued += 1
  }

  mutating func createGroup(_ name: ChatName, by caller: String, _ effects: inout Effects) throws(ChatError) {
    let user = try user(caller)
    guard groups[name.key] == nil else { throw .groupAlreadyExists(name.display) }
    guard groups.count < limits.maxGroups else { throw .tooManyGroups(limit: limits.maxGroups) }
    try checkGroupsPerUser(user)
    let key = user.session.name.key
    groups[name.key] = Group(name: name, members: [key: user.session])
    users[key]!.groups.insert(name.key)
    let joined = memberJoined(group: name.display, user: user.session.name.display)
    deliver(joined, to: user.session, &effects)
  }

  mutating func joinGroup(_ name: ChatName, by caller: String, _ effects: inout Effects) throws(ChatError) {
    let user = try user(caller)
    guard var group = groups[name.key] else { throw .noSuchGroup(name.display) }
    let key = user.session.name.key
    guard group.members[key] == nil else {
      throw .alreadyMember(group: group.name.display, user: user.session.name.display)
    }
    try checkGroupsPerUser(user)
    group.members[key] = user.session
    groups[name.key] = group
    users[key]!.groups.insert(name.key)
    let joined = memberJoined(group: group.name.display, user: user.session.name.display)
    for member in group.members.values { deliver(joined, to: member, &effects) }
  }

  mutating func leaveGroup(_ name: ChatName, by caller: String, _ effects: inout Effects) throws(ChatError) {
    let user = try user(caller)
    guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
    let key = user.session.name.key
    guard group.members[key] != nil else {
      throw .notMemberCannotLeave(group: group.name.display, user: user.session.name.display)
    }
    users[key]!.groups.remove(name.key)
    removeMember(key, named: user.session.name.display, from: name.key, reason: .left, &effects)
  }

  mutating func send(_ text: String, to target: Target, from caller: String, _ effects: inout Effects) throws(ChatError) -> UInt64 {
    let sender = try user(caller).session
    switch target {
    case .user(let name):
      guard let recipient = users[name.key]?.session else { throw .noSuchUser(name.display) }
      let event = message(text, from: sender, to: Chat_V1_Channel(recipient.name.display, .user))
      deliver(event, to: recipient, &effects)
      if recipient.name.key != sender.name.key { deliver(event, to: sender, &effects) }
    case .group(let name):
      guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
      guard group.members[sender.name.key] != nil else {
        throw .notMemberCannotSend(group: group.name.display, user: sender.name.display)
      }
      let event = message(text, from: sender, to: Chat_V1_Channel(group.name.display, .group))
      for member in group.members.values { deliver(event, to: member, &effects) }
    }
    messagesAccepted += 1
    return nextMessageID - 1
  }

  mutating func broadcast(_ notice: EncodedEvent, _ effects: inout Effects) -> Int {
    let sessions = users.values.map(\.session)
    for session in sessions { deliver(notice, to: session, &effects) }
    return sessions.count - effects.failed.count
  }

  /// Ends every session with UNAVAILABLE and forgets all groups; returns how many ended.
  mutating func shutdown(_ effects: inout Effects) -> Int {
    shuttingDown = true
    let sessions = users.values.map(\.session)
    effects.wakeups += sessions.compactMap { $0.queue.close(.shutdown) }
    sessionsEnded[SessionEnd.shutdown.label, default: 0] += sessions.count
    users = [:]
    userKeysBySessionID = [:]
    groups = [:]
    return sessions.count
  }

  /// Removes `session` (if it is still the user's current one) from the
  /// registry and every group, telling the remaining members why.
  mutating func endSession(_ session: Session, _ end: SessionEnd, _ effects: inout Effects) {
    let key = session.name.key
    guard let user = users[key], user.session.queue === session.queue else { return }
    users[key] = nil
    userKeysBySessionID[session.id] = nil
    if let wakeup = session.queue.close(end) { effects.wakeups.append(wakeup) }
    var left: [String] = []
    let deletedBefore = effects.groupsDeleted.count
    for groupKey in user.groups.sorted() {
      left.append(groups[groupKey]!.name.display)
      removeMember(key, named: session.name.display, from: groupKey, reason: end.leaveReason, &effects)
    }
    sessionsEnded[end.label, default: 0] += 1
    effects.ended.append(
      SessionEnded(
        user: session.name.display, sessionID: session.id, end: end, groupsLeft: left,
        groupsDeleted: Array(effects.groupsDeleted[deletedBefore...])))
  }

  /// Ends, one by one, the sessions whose queues refused an event (which can
  /// make more queues refuse the MemberLeft events that follow).
  mutating func endFailedSessions(_ effects: inout Effects) {
    while let (session, end) = effects.failed.popLast() {
      endSession(session, end, &effects)
    }
  }

  func snapshot() -> RegistrySnapshot {
    RegistrySnapshot(
      users: users.values.map { user in
        RegistrySnapshot.User(
          name: user.session.name.display, sessionID: user.session.id,
          connectedAt: user.session.connectedAt,
          groups: user.groups.compactMap { groups[$0]?.name.display }.sorted { $0.lowercased() < $1.lowercased() })
      }.sorted { $0.name.lowercased() < $1.name.lowercased() },
      groups: groups.values.map { group in
        RegistrySnapshot.Group(
          name: group.name.display,
          members: group.members.values.map(\.name.display).sorted { $0.lowercased() < $1.lowercased() })
      }.sorted { $0.name.lowercased() < $1.name.lowercased() },
      startedAt: startedAt, messagesAccepted: messagesAccepted, eventsQueued: eventsQueued,
      sessionsEnded: sessionsEnded)
  }

  // MARK: Private

  private func checkGroupsPerUser(_ user: User) throws(ChatError) {
    guard user.groups.count < limits.maxGroupsPerUser else {
      throw .tooManyGroupsForUser(user: user.session.name.display, limit: limits.maxGroupsPerUser)
    }
  }

  private mutating func removeMember(
    _ userKey: String, named user: String, from groupKey: String, reason: Chat_V1_LeaveReason,
    _ effects: inout Effects
  ) {
    guard var group = groups[groupKey] else { return }
    group.members[userKey] = nil
    if group.members.isEmpty {
      groups[groupKey] = nil
      effects.groupsDeleted.append(group.name.display)
      return
    }
    groups[groupKey] = group
    let left = EncodedEvent(
      .memberLeft(.with {
        $0.group = group.name.display
        $0.username = user
        $0.reason = reason
      }), at: Date())
    for member in group.members.values { deliver(left, to: member, &effects) }
  }

  private mutating func deliver(_ event: EncodedEvent, to session: Session, _ effects: inout Effects) {
    let (result, wakeup) = session.queue.enqueue(event)
    if let wakeup { effects.wakeups.append(wakeup) }
    switch result {
    case .queued: eventsQueued += 1
    case .closed(let end): effects.failed.append((session, end))
    }
  }

  private func memberJoined(group: String, user: String) -> EncodedEvent {
    EncodedEvent(
      .memberJoined(.with {
        $0.group = group
        $0.username = user
      }), at: Date())
  }

  private mutating func message(_ text: String, from sender: Session, to channel: Chat_V1_Channel) -> EncodedEvent {
    let id = nextMessageID
    nextMessageID += 1
    return EncodedEvent(
      .message(.with {
        $0.id = id
        $0.sender = sender.name.display
        $0.channel = channel
        $0.text = text
      }), at: Date())
  }
}

/// A consistent copy of the registry, for the console and for tests.
public struct RegistrySnapshot: Sendable {
  public struct User: Sendable {
    public let name: String
    public let sessionID: String
    public let connectedAt: Date
    public let groups: [String]
  }

  public struct Group: Sendable {
    public let name: String
    public let members: [String]
  }

  public let users: [User]
  public let groups: [Group]
  public let startedAt: Date
  public let messagesAccepted: Int
  /// Events queued for sessions (each recipient counts once).
  public let eventsQueued: Int
  /// Events written to Connect streams: queued events minus those dropped
  /// with sessions that ended before taking them.
  public internal(set) var eventsWritten = 0
  /// Stream writes those events took (several events can share one).
  public internal(set) var batchesWritten = 0
  public let sessionsEnded: [String: Int]
}
