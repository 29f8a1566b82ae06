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

  public init(logger: Logger, limits: RegistryLimits = RegistryLimits()) {
    self.state = Mutex(RegistryState(startedAt: Date(), limits: limits))
    self.logger = logger
    self.limits = limits
  }

  // MARK: Sessions

  /// Registers `name` with a new session whose queue already holds Welcome.
  public func connect(_ name: ChatName, peer: String = "") throws(ChatError) -> Session {
    let session = try state.withLock { state throws(ChatError) in try state.connect(name) }
    logger.info("user connected", metadata: ["user": "\(name)", "session": "\(session.tag)", "peer": "\(peer)"])
    return session
  }

  /// Ends `session` after its Connect stream ended on the client's side. A
  /// session the registry already ended (kick, slow consumer, shutdown) is
  /// left as it is.
  public func disconnect(_ session: Session) {
    let effects = state.withLock { state in
      var effects = Effects()
      state.endSession(session, .disconnected, &effects)
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

  // MARK: Groups

  public func createGroup(_ rawGroup: String, by caller: Caller) throws(ChatError) {
    try changeGroup(rawGroup, by: caller, logged: "group created") { state, group, effects throws(ChatError) in
      try state.createGroup(group, by: caller, &effects)
    }
  }

  public func joinGroup(_ rawGroup: String, by caller: Caller) throws(ChatError) {
    try changeGroup(rawGroup, by: caller, logged: "group joined") { state, group, effects throws(ChatError) in
      try state.joinGroup(group, by: caller, &effects)
    }
  }

  public func leaveGroup(_ rawGroup: String, by caller: Caller) throws(ChatError) {
    try changeGroup(rawGroup, by: caller, logged: "group left") { state, group, effects throws(ChatError) in
      try state.leaveGroup(group, by: caller, &effects)
    }
  }

  /// Validates the group name, applies `change` under the lock, then logs.
  private func changeGroup(
    _ rawGroup: String, by caller: Caller, logged message: Logger.Message,
    _ change: (inout RegistryState, ChatName, inout Effects) throws(ChatError) -> Void
  ) throws(ChatError) {
    let group = try ChatName.validate(rawGroup, as: .group)
    let effects = try mutate { state, effects throws(ChatError) in try change(&state, group, &effects) }
    logger.info(message, metadata: ["group": "\(group)", "user": "\(caller.user)"])
    log(effects)
  }

  // MARK: Messages

  /// Queues a message for its whole audience and returns its id.
  @discardableResult
  public func send(
    _ text: String, to kind: Channel.Kind, named rawName: String, from caller: Caller
  ) throws(ChatError) -> UInt64 {
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
    return id
  }

  /// Every connected user, then every group, each sorted case-insensitively.
  public func listChannels(for caller: Caller) throws(ChatError) -> [Channel] {
    let (users, groups) = try state.withLock { state throws(ChatError) in
      _ = try state.user(caller)
      return (state.users.values.map(\.name), state.groups.values.map(\.name))
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
    // The user leaves its groups with its last session.
    return effects.ended.last { $0.end == .kicked(reason: reason) }!
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
      return (state.shutdown(&effects), effects)
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
        users: state.users.count, sessions: state.sessionCount, groups: state.groups.count,
        startedAt: state.startedAt, messagesAccepted: state.messagesAccepted, eventsQueued: state.eventsQueued,
        sessionsEnded: state.sessionsEnded)
    }
    counts.eventsWritten = eventsWritten.load(ordering: .relaxed)
    counts.batchesWritten = batchesWritten.load(ordering: .relaxed)
    return counts
  }

  /// A consistent copy of the registry's contents: copied under the lock,
  /// sorted after it.
  public func snapshot() -> RegistrySnapshot {
    let (users, groups) = state.withLock { state in
      (
        state.users.values.map { user in
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
          name: user.name.display, sessions: user.sessions.keys.sorted(),
          connectedAt: user.sessions.values.map(\.connectedAt).min()!, groups: groups.sortedByKey().map(\.display))
      }.sorted { $0.name.lowercased() < $1.name.lowercased() },
      groups: groups.map { name, members in
        RegistrySnapshot.Group(name: name.display, members: members.sortedByKey().map(\.display))
      }.sorted { $0.name.lowercased() < $1.name.lowercased() })
  }

  /// The names of connected users, unsorted (for completion).
  public func userNames() -> [String] {
    state.withLock { $0.users.values.map(\.name.display) }
  }

  /// The names of the groups, unsorted (for completion).
  public func groupNames() -> [String] {
    state.withLock { $0.groups.values.map(\.name.display) }
  }

  /// The group's members, sorted case-insensitively; nil if there is no such group.
  public func members(ofGroup group: ChatName) -> (group: String, members: [String])? {
    let found = state.withLock { state in
      state.groups[group.key].map { ($0.name.display, $0.members.map { state.users[$0]!.name }) }
    }
    return found.map { ($0.0, $0.1.sortedByKey().map(\.display)) }
  }

  /// Counts a batch of events a Connect handler has written to its stream.
  public func recordWritten(_ count: Int) {
    eventsWritten.add(count, ordering: .relaxed)
    batchesWritten.add(1, ordering: .relaxed)
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

  /// Resumes the Connect handlers the critical section gave events or ended.
  private func wake(_ effects: Effects) {
    for wakeup in effects.wakeups { wakeup.resume() }
  }

  private func log(_ effects: Effects) {
    for ended in effects.ended {
      let level: Logger.Level = ended.end == .disconnected ? .info : .notice
      var metadata: Logger.Metadata = [
        "user": "\(ended.user)", "session": "\(ended.session)", "reason": "\(ended.end.label)",
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
