import ChatStore
import Foundation

extension RegistryState {
  // MARK: Groups

  mutating func createGroup(_ name: ChatName, by caller: Caller, _ effects: inout Effects) throws(ChatError) {
    let user = try user(caller)
    guard groups[name.key] == nil else { throw .groupAlreadyExists(name.display) }
    guard groups.count < limits.maxGroups else { throw .tooManyGroups(limit: limits.maxGroups) }
    try checkGroupsPerUser(user)
    groups[name.key] = Group(name: name, members: [])
    addMember(caller.user.key, to: name.key)
    let joined = logged(.memberJoined(group: name.display, user: user.name.display), in: EventLog.groupChannel(name.key), &effects)
    groups[name.key]!.createdSeq = joined.seq
    effects.storeOperations.append(
      .putGroup(GroupRecord(key: name.key, display: name.display, permanent: false, createdSeq: joined.seq)))
    joinedGroup(caller.user.key, name.key, since: joined.seq, &effects)
    deliver(joined, toUser: caller.user.key, &effects)
  }

  mutating func joinGroup(_ name: ChatName, by caller: Caller, _ effects: inout Effects) throws(ChatError) {
    let user = try user(caller)
    guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
    guard !group.members.contains(caller.user.key) else {
      throw .alreadyMember(group: group.name.display, user: user.name.display)
    }
    try checkGroupsPerUser(user)
    addMember(caller.user.key, to: name.key)
    let joined = logged(
      .memberJoined(group: group.name.display, user: user.name.display), in: EventLog.groupChannel(name.key), &effects)
    joinedGroup(caller.user.key, name.key, since: joined.seq, &effects)
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

  /// Records an account's membership from the event `since` on.
  mutating func joinedGroup(_ userKey: String, _ groupKey: String, since: UInt64, _ effects: inout Effects) {
    guard users[userKey]!.account != nil else { return }
    groups[groupKey]!.hadAccounts = true
    users[userKey]!.account!.joinedAt[groupKey] = since
    effects.storeOperations.append(.addMember(group: groupKey, account: userKey, since: since))
  }

  func checkGroupsPerUser(_ user: User) throws(ChatError) {
    // The lobby is not one the user chose.
    let chosen = user.groups.count - (lobby.map { user.groups.contains($0) ? 1 : 0 } ?? 0)
    guard chosen < limits.maxGroupsPerUser else {
      throw .tooManyGroupsForUser(user: user.name.display, limit: limits.maxGroupsPerUser)
    }
  }

  /// Takes `userKey` out of the group (the caller has updated the user's own
  /// set): the others are told, or the group goes with its last member (the
  /// lobby stays, its MemberLeft logged for its history).
  mutating func removeMember(
    _ userKey: String, named user: String, from groupKey: String, reason: LeaveReason, _ effects: inout Effects
  ) {
    guard groups[groupKey]?.members.remove(userKey) != nil else { return }
    if let sessions = users[userKey]?.sessionsInPlace() {
      for session in sessions { groups[groupKey]!.sessions.remove(session) }
    }
    let group = groups[groupKey]!
    // What the leaver saw ends before the next event of the group.
    var until = log.lastSeq + 1
    if group.members.isEmpty && !group.permanent {
      groups[groupKey] = nil
      effects.groupsDeleted.append(group.name.display)
      effects.storeOperations.append(.deleteGroup(key: groupKey))
      // Nobody can read it any more, and no account needs it to catch up.
      if !group.hadAccounts { dropChannel(EventLog.groupChannel(groupKey), &effects) }
    } else {
      let left = logged(
        .memberLeft(group: group.name.display, user: user, reason: reason), in: EventLog.groupChannel(groupKey), &effects)
      until = left.seq
      deliver(left, toMembersOf: groupKey, &effects)
    }
    if let since = users[userKey]?.account?.joinedAt.removeValue(forKey: groupKey) {
      users[userKey]!.account!.pastMemberships.append(PastMembership(group: groupKey, since: since, until: until))
      effects.storeOperations.append(.endMember(group: groupKey, account: userKey, until: until))
    }
  }

  // MARK: Messages

  mutating func send(
    _ text: String, to target: Target, from caller: Caller, _ effects: inout Effects
  ) throws(ChatError) -> UInt64 {
    let sender = try user(caller)
    let event: SharedEvent
    switch target {
    case .user(let name):
      guard let recipient = users[name.key] else { throw .noSuchUser(name.display) }
      let channel = EventLog.directChannel(caller.user.key, name.key)
      event = loggedMessage(text, from: sender.name, to: Channel(.user, recipient.name.display), in: channel, &effects)
      for key in [caller.user.key, name.key] {
        if users[key]!.account != nil {
          users[key]!.account!.directChannels.insert(channel)
        } else {
          users[key]!.guestChannels.insert(channel)
        }
      }
      deliver(event, toUser: name.key, &effects)
      if name.key != caller.user.key { deliver(event, toUser: caller.user.key, &effects) }
    case .group(let name):
      guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
      guard group.members.contains(caller.user.key) else {
        throw .notMemberCannotSend(group: group.name.display, user: sender.name.display)
      }
      event = loggedMessage(
        text, from: sender.name, to: Channel(.group, group.name.display), in: EventLog.groupChannel(name.key), &effects)
      deliver(event, toMembersOf: name.key, &effects)
    }
    messagesAccepted += 1
    return event.seq
  }

  mutating func broadcast(_ notice: SharedEvent, _ effects: inout Effects) -> Int {
    var reached = 0
    for key in users.keys {
      for session in users[key]!.sessionsInPlace() where deliver(notice, to: session, &effects) {
        reached += 1
      }
    }
    return reached
  }

  // MARK: Logging and delivery

  private mutating func loggedMessage(
    _ text: String, from sender: ChatName, to channel: Channel, in logChannel: String, _ effects: inout Effects
  ) -> SharedEvent {
    let seq = log.nextSeq()
    let message = ChatMessage(id: seq, sender: sender.display, channel: channel, text: text)
    return record(SharedEvent(.message(message), seq: seq), kind: .message, in: logChannel, &effects)
  }

  /// A new logged event of `kind` in `channel`, with the next seq.
  mutating func logged(_ kind: ChatEvent.Kind, in channel: String, _ effects: inout Effects) -> SharedEvent {
    let recordKind: LogRecord.Kind =
      if case .memberLeft = kind { .memberLeft } else { .memberJoined }
    return record(SharedEvent(kind, seq: log.nextSeq()), kind: recordKind, in: channel, &effects)
  }

  private mutating func record(
    _ event: SharedEvent, kind: LogRecord.Kind, in channel: String, _ effects: inout Effects
  ) -> SharedEvent {
    log.append(event, to: channel)
    if let persistence {
      // Encoded by the store's writer (or whichever recipient's writer is first), not under this lock.
      effects.storeOperations.append(
        .log(
          LogRecord(
            seq: event.seq, channel: channel, kind: kind, time: event.event.time,
            payload: EncodedOnWrite(event: event, encode: persistence.encode))))
    }
    return event
  }

  mutating func deliver(_ event: SharedEvent, toMembersOf groupKey: String, _ effects: inout Effects) {
    // A copy of the array's reference, not of its elements: nothing mutates it while we iterate.
    let sessions = groups[groupKey]!.sessions.list
    for session in sessions { deliver(event, to: session, &effects) }
  }

  /// Puts `userKey` in the group's members and the group in the user's
  /// groups, and the user's open sessions in the group's.
  mutating func addMember(_ userKey: String, to groupKey: String) {
    groups[groupKey]!.members.insert(userKey)
    users[userKey]!.groups.insert(groupKey)
    guard let sessions = users[userKey]?.sessionsInPlace() else { return }
    for session in sessions { groups[groupKey]!.sessions.insert(session) }
  }

  mutating func deliver(_ event: SharedEvent, toUser key: String, _ effects: inout Effects) {
    guard let sessions = users[key]?.sessionsInPlace() else { return }
    for session in sessions { deliver(event, to: session, &effects) }
  }

  /// Queues `event` for `session`; false if its queue refused it.
  @discardableResult
  mutating func deliver(_ event: SharedEvent, to session: Session, _ effects: inout Effects) -> Bool {
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
}

/// A logged event's stored bytes, encoded when the store writes it: two
/// references, so a `LogRecord` holds it without allocating.
struct EncodedOnWrite: LogPayload {
  let event: SharedEvent
  let encode: @Sendable (SharedEvent) -> [UInt8]

  var bytes: [UInt8] { encode(event) }
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

extension RegistryState {
  /// Every group's sessions are exactly its members' open sessions (the
  /// model-based tests check it after every step).
  func memberSessionsAreConsistent() -> Bool {
    groups.values.allSatisfy { group in
      let expected = Set(group.members.flatMap { users[$0].map { Array($0.sessions.keys) } ?? [] })
      return group.sessions.count == expected.count && group.sessions.list.allSatisfy { expected.contains($0.tag) }
    }
  }
}
