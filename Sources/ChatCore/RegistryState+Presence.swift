import ChatStore
import Foundation

extension RegistryState {
  // MARK: Presence

  /// An account's first session opened. Announced to everyone it shares a
  /// group with, unless it is still announced online (a reconnect within
  /// the grace): then its pending offline announcement is called off.
  mutating func cameOnline(_ key: String, _ effects: inout Effects) {
    guard users[key]!.account != nil else { return }
    users[key]!.account!.offlineGeneration += 1
    guard !users[key]!.account!.announcedOnline else { return }
    users[key]!.account!.announcedOnline = true
    announcePresence(of: key, online: true, &effects)
  }

  /// An account's last session ended: announced offline once the grace
  /// has passed with no new session (at once with no grace).
  mutating func wentOffline(_ key: String, now: ContinuousClock.Instant, _ effects: inout Effects) {
    guard let account = users[key]?.account, account.announcedOnline else { return }
    guard limits.presenceGrace > .zero else {
      users[key]!.account!.announcedOnline = false
      announcePresence(of: key, online: false, &effects)
      return
    }
    if pendingOfflineHead == pendingOffline.count {
      pendingOffline.removeAll(keepingCapacity: true)
      pendingOfflineHead = 0
      effects.presenceTimerArmed = true
    }
    pendingOffline.append(
      PendingOffline(due: now + limits.presenceGrace, account: key, generation: account.offlineGeneration))
  }

  /// Announces the offline accounts whose grace has passed by `now`;
  /// returns when the next one is due (nil: none is pending).
  mutating func expirePresence(now: ContinuousClock.Instant, _ effects: inout Effects) -> ContinuousClock.Instant? {
    while pendingOfflineHead < pendingOffline.count {
      let pending = pendingOffline[pendingOfflineHead]
      guard pending.due <= now else { return pending.due }
      pendingOfflineHead += 1
      // Gone (kicked and deleted), back online, or offline again since: not this announcement.
      guard let user = users[pending.account], let account = user.account, user.sessions.isEmpty,
        account.announcedOnline, account.offlineGeneration == pending.generation
      else { continue }
      users[pending.account]!.account!.announcedOnline = false
      announcePresence(of: pending.account, online: false, &effects)
    }
    pendingOffline.removeAll(keepingCapacity: pendingOffline.count < 4096)
    pendingOfflineHead = 0
    return nil
  }

  /// Queues PresenceChanged for every session of every other user that
  /// shares a group with `key`, once each.
  private mutating func announcePresence(of key: String, online: Bool, _ effects: inout Effects) {
    let user = users[key]!
    guard !user.groups.isEmpty else { return }
    let event = SharedEvent(.presence(user: user.name.display, online: online))
    if user.groups.count == 1 {
      // The common case needs no set of watchers.
      for member in groups[user.groups.first!]!.members where member != key {
        deliver(event, toUser: member, &effects)
      }
      return
    }
    var watchers = Set<String>()
    for group in user.groups { watchers.formUnion(groups[group]!.members) }
    watchers.remove(key)
    for member in watchers { deliver(event, toUser: member, &effects) }
  }

  /// Online as others were told: a guest always (it exists while
  /// connected), an account from its first session until the grace after
  /// its last one has passed.
  func isOnline(_ user: User) -> Bool {
    user.account.map { !user.sessions.isEmpty || $0.announcedOnline } ?? true
  }

  // MARK: Members

  /// The members of a group the caller is in, unsorted.
  func members(of name: ChatName, by caller: Caller) throws(ChatError) -> [MemberSummary] {
    let user = try user(caller)
    guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
    guard group.members.contains(caller.user.key) else {
      throw .notMemberCannotList(group: group.name.display, user: user.name.display)
    }
    return members(of: group)
  }

  func members(of group: Group) -> [MemberSummary] {
    group.members.map { key in
      let member = users[key]!
      let online = isOnline(member)
      return MemberSummary(
        name: member.name, online: online, account: member.account != nil,
        lastSeen: online ? nil : member.account?.lastSeen)
    }
  }

  // MARK: Lobby

  /// Makes the lobby exist (with the history its stored record says it
  /// has) and marks it permanent.
  mutating func ensureLobby(_ name: ChatName, stored: GroupRecord?, _ effects: inout Effects) {
    if groups[name.key] == nil {
      let createdSeq = stored?.createdSeq ?? (log.lastSeq + 1)
      groups[name.key] = Group(name: stored.flatMap { ChatName($0.display) } ?? name, members: [], createdSeq: createdSeq)
    }
    groups[name.key]!.permanent = true
    guard stored?.permanent != true else { return }
    let group = groups[name.key]!
    effects.storeOperations.append(
      .putGroup(GroupRecord(key: name.key, display: group.name.display, permanent: true, createdSeq: group.createdSeq)))
  }

  /// Puts `key` in the lobby if there is one and it is not in it yet; the
  /// lobby does not count against the groups a user may be in.
  mutating func joinLobby(_ key: String, _ effects: inout Effects) {
    guard let lobby, groups[lobby] != nil, !users[key]!.groups.contains(lobby) else { return }
    addMember(key, to: lobby)
    let joined = logged(
      .memberJoined(group: groups[lobby]!.name.display, user: users[key]!.name.display),
      in: EventLog.groupChannel(lobby), &effects)
    joinedGroup(key, lobby, since: joined.seq, &effects)
    deliver(joined, toMembersOf: lobby, &effects)
  }
}

/// A group's member as ListMembers and the console show it.
public struct MemberSummary: Sendable, Equatable {
  public let name: ChatName
  /// A guest is online while connected; an account until `--presence-grace`
  /// after its last session ended.
  public let online: Bool
  public let account: Bool
  /// When an offline account's last session ended.
  public let lastSeen: Date?
}
