import ChatAPI
import Foundation
import Logging
import Synchronization

/// Every user, session, group and membership, behind one lock.
///
/// Each public method validates what it can before taking the lock, decides
/// and queues events while holding it (so ids and per-group order are one
/// total order), and logs after releasing it. Nothing inside the lock does
/// I/O, awaits, finishes a stream or wakes a task: sessions end by closing
/// their `SessionQueue`, and the Connect handlers that queues hand events or
/// an end to are resumed once the lock is released.
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
    let session = Session(name: name, queue: SessionQueue(limitBytes: limits.maxQueueBytes))
    try state.withLock { state throws(ChatError) in try state.connect(session) }
    logger.info(
      "user connected",
      metadata: ["user": "\(name)", "session": "\(session.id)", "peer": "\(peer)"])
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
    wake(effects)
    log(effects)
  }

  /// The connected user a call's credential names (a username, or a session
  /// id in `.session` mode), as registered; with `charge`, the call also takes
  /// a token from the user's rate-limit bucket.
  public func authenticate(_ credential: String, mode: AuthMode, charge: Bool) throws(ChatError) -> String {
    let now = ContinuousClock.now
    return try state.withLock { state throws(ChatError) in
      try state.authenticate(credential, mode: mode, charge: charge, now: now)
    }
  }

  // MARK: Groups

  public func createGroup(_ rawGroup: String, by caller: String) throws(ChatError) {
    let group = try ChatName.validate(rawGroup, as: .group)
    let effects = try mutate { state, effects throws(ChatError) in
      try state.createGroup(group, by: caller, &effects)
    }
    logger.info("group created", metadata: ["group": "\(group)", "user": "\(caller)"])
    log(effects)
  }

  public func joinGroup(_ rawGroup: String, by caller: String) throws(ChatError) {
    let group = try ChatName.validate(rawGroup, as: .group)
    let effects = try mutate { state, effects throws(ChatError) in
      try state.joinGroup(group, by: caller, &effects)
    }
    logger.info("group joined", metadata: ["group": "\(group)", "user": "\(caller)"])
    log(effects)
  }

  public func leaveGroup(_ rawGroup: String, by caller: String) throws(ChatError) {
    let group = try ChatName.validate(rawGroup, as: .group)
    let effects = try mutate { state, effects throws(ChatError) in
      try state.leaveGroup(group, by: caller, &effects)
    }
    logger.info("group left", metadata: ["group": "\(group)", "user": "\(caller)"])
    log(effects)
  }

  // MARK: Messages

  /// Queues a message for its whole audience and returns its id.
  @discardableResult
  public func send(_ text: String, to channel: Chat_V1_Channel, from caller: String) throws(ChatError) -> UInt64 {
    let target = try Target(channel)
    try MessageText.validate(text)
    var id: UInt64 = 0
    let effects = try mutate { state, effects throws(ChatError) in
      id = try state.send(text, to: target, from: caller, &effects)
    }
    logger.debug(
      "message accepted",
      metadata: ["id": "\(id)", "from": "\(caller)", "to": "\(target)", "bytes": "\(text.utf8.count)"])
    log(effects)
    return id
  }

  /// Every connected user, then every group, each sorted case-insensitively.
  public func listChannels(for caller: String) throws(ChatError) -> [Chat_V1_Channel] {
    let (users, groups) = try state.withLock { state throws(ChatError) -> ([ChatName], [ChatName]) in
      _ = try state.user(caller)
      return (state.users.values.map(\.session.name), state.groups.values.map(\.name))
    }
    let byKey: (ChatName, ChatName) -> Bool = { $0.key < $1.key }
    let userChannels = users.sorted(by: byKey).map { Chat_V1_Channel($0.display, .user) }
    let groupChannels = groups.sorted(by: byKey).map { Chat_V1_Channel($0.display, .group) }
    return userChannels + groupChannels
  }

  // MARK: Operator

  /// Ends `rawUser`'s session as kicked; returns what it left and deleted.
  public func kick(_ rawUser: String, reason: String) throws(ChatError) -> SessionEnded {
    let user = try ChatName.validate(rawUser, as: .user)
    let effects = try mutate { state, effects throws(ChatError) in
      guard let session = state.users[user.key]?.session else { throw .noSuchUser(rawUser) }
      state.endSession(session, .kicked(reason: reason), &effects)
    }
    log(effects)
    return effects.ended[0]
  }

  /// Queues a Notice for every session; returns how many it reached.
  public func broadcast(_ text: String) throws(ChatError) -> Int {
    try MessageText.validate(text)
    // Encoded before the lock: a notice carries no id that orders it.
    let notice = EncodedEvent(.notice(.with { $0.text = text }), at: Date())
    var reached = 0
    let effects = try mutate { state, effects in
      reached = state.broadcast(notice, &effects)
    }
    log(effects)
    return reached
  }

  /// Refuses new sessions and ends every open one with UNAVAILABLE.
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

  /// A consistent copy of the registry's contents.
  public func snapshot() -> RegistrySnapshot {
    var snapshot = state.withLock { $0.snapshot() }
    snapshot.eventsWritten = eventsWritten.load(ordering: .relaxed)
    snapshot.batchesWritten = batchesWritten.load(ordering: .relaxed)
    return snapshot
  }

  /// Counts a batch of events a Connect handler has written to its stream.
  func recordWritten(_ count: Int) {
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

  /// Resumes the Connect handlers the critical section gave events or ended.
  private func wake(_ effects: Effects) {
    for wakeup in effects.wakeups { wakeup.resume() }
  }

  private func log(_ effects: Effects) {
    for ended in effects.ended {
      let level: Logger.Level = ended.end == .disconnected ? .info : .notice
      var metadata: Logger.Metadata = [
        "user": "\(ended.user)", "session": "\(ended.sessionID)", "reason": "\(ended.end.label)",
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

/// A session: one Connect stream of one user.
public struct Session: Sendable {
  public let id: String
  public let name: ChatName
  public let queue: SessionQueue
  public let connectedAt = Date()

  init(name: ChatName, queue: SessionQueue) {
    self.id = Session.newID()
    self.name = name
    self.queue = queue
  }

  /// 128 random bits, as hex.
  static func newID() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<2).map { _ in
      let hex = String(generator.next() as UInt64, radix: 16)
      return String(repeating: "0", count: 16 - hex.count) + hex
    }.joined()
  }
}

/// What ending one session did.
public struct SessionEnded: Sendable {
  public let user: String
  public let sessionID: String
  public let end: SessionEnd
  public let groupsLeft: [String]
  public let groupsDeleted: [String]
}

/// Where a message goes, validated.
enum Target: CustomStringConvertible {
  case user(ChatName)
  case group(ChatName)

  init(_ channel: Chat_V1_Channel) throws(ChatError) {
    switch channel.type {
    case .user, .group:
      guard !channel.name.isEmpty else { throw .emptyChannelName }
      let kind: ChatName.Kind = channel.type == .user ? .user : .group
      let name = try ChatName.validate(channel.name, as: kind)
      self = channel.type == .user ? .user(name) : .group(name)
    case .unspecified:
      throw .invalidChannelType("CHANNEL_TYPE_UNSPECIFIED")
    case .UNRECOGNIZED(let value):
      throw .invalidChannelType("\(value)")
    }
  }

  var description: String {
    switch self {
    case .user(let name): "@\(name)"
    case .group(let name): "#\(name)"
    }
  }
}
