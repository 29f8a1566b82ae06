import ChatAPI
import GRPCCore
import InMemoryLogging
import Logging
import Testing

@testable import ChatConsole
@testable import ChatCore
@testable import ChatGRPC
@testable import ChatServer

/// A registry with an in-memory log, and helpers to read sessions' queues.
struct RegistryHarness {
  let logs = InMemoryLogHandler()
  let registry: ChatRegistry

  /// Rate limiting is off unless `configure` turns it on.
  init(
    lobby: String? = nil, clock: ManualClock? = nil,
    _ configure: (inout RegistryLimits) -> Void = { _ in }
  ) {
    var handler = logs
    handler.logLevel = .debug
    let logger = Logger(label: "test") { _ in handler }
    var limits = RegistryLimits()
    limits.rateLimit = nil
    configure(&limits)
    let name = lobby.flatMap(ChatName.init)
    if let clock {
      registry = ChatRegistry(logger: logger, limits: limits, lobby: name, clock: { clock.now() })
    } else {
      registry = ChatRegistry(logger: logger, limits: limits, lobby: name)
    }
  }

  /// Connects and consumes the Welcome event.
  func connect(_ name: String) throws -> Session {
    let session = try registry.connect(ChatName.validate(name, as: .user))
    let welcome = try events(session)
    #expect(welcome.count == 1)
    #expect(welcome.first?.welcome.username == name)
    return session
  }

  static func user(_ name: String) -> Chat_V1_Channel { Chat_V1_Channel(name, .user) }
  static func group(_ name: String) -> Chat_V1_Channel { Chat_V1_Channel(name, .group) }
}

/// The events queued for `session` and not yet taken.
func events(_ session: Session) throws -> [Chat_V1_Event] {
  guard case .events(let batch)? = session.queue.takeReady() else { return [] }
  return try batch.map { try $0.decoded() }
}

/// How the session ended, if it did and nothing is left to read.
func ending(_ session: Session) -> SessionEnd? {
  if case .ended(let end)? = session.queue.takeReady() { return end }
  return nil
}

@Suite("Registry rules")
struct RegistryTests {
  let h = RegistryHarness()
  var registry: ChatRegistry { h.registry }

  @Test("Welcome is the first event, with the registered name and a 128-bit session id")
  func welcome() throws {
    let session = try registry.connect(ChatName.validate("Alice", as: .user))
    let first = try #require(try events(session).first)
    #expect(first.welcome.username == "Alice")
    #expect(first.welcome.sessionID.count == 32)
    #expect(first.welcome.sessionID.allSatisfy { $0.isHexDigit })
    #expect(first.hasTime)
  }

  @Test("a connected name, in any case, is ALREADY_EXISTS until its session ends")
  func duplicateUser() throws {
    let alice = try h.connect("Alice")
    #expect(throws: ChatError.userAlreadyConnected("alice")) {
      try registry.connect(ChatName.validate("alice", as: .user))
    }
    registry.disconnect(alice)
    let again = try h.connect("ALICE")
    #expect(again.user.display == "ALICE")
  }

  @Test("calls from a user who is not connected are UNAUTHENTICATED")
  func unknownCaller() throws {
    #expect(throws: ChatError.unknownCaller("ghost")) { try registry.createGroup("g", by: "ghost") }
    #expect(ChatError.unknownCaller("ghost").rpcErrorCode == .unauthenticated)
    #expect(throws: ChatError.unknownCaller("ghost")) { try registry.authenticate("ghost", mode: .username, charge: false) }
    _ = try h.connect("Bob")
    #expect(try registry.authenticate("BOB", mode: .username, charge: false).user.display == "Bob")
  }

  @Test("creating a group makes the caller its only member and tells them")
  func createGroup() throws {
    let alice = try h.connect("alice")
    try registry.createGroup("General", by: "alice")
    let joined = try events(alice)
    #expect(joined.map(\.memberJoined) == [.with { $0.group = "General"; $0.username = "alice" }])
    #expect(throws: ChatError.groupAlreadyExists("general")) { try registry.createGroup("general", by: "alice") }
    #expect(throws: ChatError.invalidName(.group, "no way")) { try registry.createGroup("no way", by: "alice") }
    #expect(registry.snapshot().groups.map(\.members) == [["alice"]])
  }

  @Test("joining tells every member, the joiner included; NOT_FOUND and ALREADY_EXISTS otherwise")
  func joinGroup() throws {
    let alice = try h.connect("alice")
    let bob = try h.connect("bob")
    #expect(throws: ChatError.noSuchGroup("g")) { try registry.joinGroup("g", by: "bob") }
    try registry.createGroup("G", by: "alice")
    _ = try events(alice)
    try registry.joinGroup("g", by: "Bob")
    let expected = Chat_V1_MemberJoined.with { $0.group = "G"; $0.username = "bob" }
    #expect(try events(alice).map(\.memberJoined) == [expected])
    #expect(try events(bob).map(\.memberJoined) == [expected])
    #expect(throws: ChatError.alreadyMember(group: "G", user: "bob")) { try registry.joinGroup("g", by: "bob") }
  }

  @Test("leaving tells the remaining members; the last one out deletes the group")
  func leaveGroup() throws {
    let alice = try h.connect("alice")
    let bob = try h.connect("bob")
    #expect(throws: ChatError.noSuchGroup("g")) { try registry.leaveGroup("g", by: "bob") }
    try registry.createGroup("g", by: "alice")
    #expect(throws: ChatError.notMemberCannotLeave(group: "g", user: "bob")) { try registry.leaveGroup("g", by: "bob") }
    #expect(ChatError.notMemberCannotLeave(group: "g", user: "bob").rpcErrorCode == .failedPrecondition)
    try registry.joinGroup("g", by: "bob")
    _ = try events(alice)
    _ = try events(bob)
    try registry.leaveGroup("g", by: "bob")
    #expect(try events(bob).isEmpty)
    #expect(try events(alice).map(\.memberLeft) == [.with { $0.group = "g"; $0.username = "bob"; $0.reason = .left }])
    try registry.leaveGroup("g", by: "alice")
    #expect(registry.snapshot().groups.isEmpty)
    #expect(throws: ChatError.noSuchGroup("g")) { try registry.joinGroup("g", by: "bob") }
  }

  @Test("a direct message reaches recipient and sender, once when sent to oneself")
  func directMessage() throws {
    let alice = try h.connect("alice")
    let bob = try h.connect("Bob")
    let id = try registry.send("hi bob", to: RegistryHarness.user("BOB"), from: "alice")
    for session in [alice, bob] {
      let message = try #require(try events(session).first).message
      #expect(message.id == id)
      #expect(message.sender == "alice")
      #expect(message.channel == Chat_V1_Channel("Bob", .user))
      #expect(message.text == "hi bob")
    }
    try registry.send("note to self", to: RegistryHarness.user("alice"), from: "alice")
    #expect(try events(alice).map(\.message.text) == ["note to self"])
    #expect(throws: ChatError.noSuchUser("carol")) { try registry.send("hi", to: RegistryHarness.user("carol"), from: "alice") }
  }

  @Test("a group message reaches every member, the sender included; outsiders are PERMISSION_DENIED")
  func groupMessage() throws {
    let alice = try h.connect("alice")
    let bob = try h.connect("bob")
    let carol = try h.connect("carol")
    try registry.createGroup("g", by: "alice")
    try registry.joinGroup("g", by: "bob")
    _ = try [alice, bob].map(events)
    try registry.send("hello", to: RegistryHarness.group("G"), from: "bob")
    for session in [alice, bob] {
      let message = try #require(try events(session).first).message
      #expect(message.channel == Chat_V1_Channel("g", .group))
      #expect(message.sender == "bob")
    }
    #expect(try events(carol).isEmpty)
    #expect(throws: ChatError.notMemberCannotSend(group: "g", user: "carol")) {
      try registry.send("hi", to: RegistryHarness.group("g"), from: "carol")
    }
    #expect(ChatError.notMemberCannotSend(group: "g", user: "carol").rpcErrorCode == .permissionDenied)
    #expect(throws: ChatError.noSuchGroup("h")) { try registry.send("hi", to: RegistryHarness.group("h"), from: "alice") }
  }

  @Test(
    "a malformed recipient is INVALID_ARGUMENT",
    arguments: [
      (Chat_V1_Channel("bob", .unspecified), ChatError.invalidChannelType("CHANNEL_TYPE_UNSPECIFIED")),
      (Chat_V1_Channel("bob", .UNRECOGNIZED(7)), ChatError.invalidChannelType("7")),
      (Chat_V1_Channel("", .user), ChatError.emptyChannelName),
      (Chat_V1_Channel("", .group), ChatError.emptyChannelName),
      (Chat_V1_Channel("b b", .user), ChatError.invalidName(.user, "b b")),
    ])
  func malformedRecipient(channel: Chat_V1_Channel, error: ChatError) throws {
    _ = try h.connect("alice")
    #expect(throws: error) { try registry.send("hi", to: channel, from: "alice") }
    #expect(error.rpcErrorCode == .invalidArgument)
  }

  @Test("only the audience at the moment of sending gets a message")
  func audienceAtSendTime() throws {
    let alice = try h.connect("alice")
    let bob = try h.connect("bob")
    try registry.createGroup("g", by: "alice")
    try registry.send("before bob", to: RegistryHarness.group("g"), from: "alice")
    try registry.joinGroup("g", by: "bob")
    try registry.send("with bob", to: RegistryHarness.group("g"), from: "alice")
    try registry.leaveGroup("g", by: "bob")
    try registry.send("after bob", to: RegistryHarness.group("g"), from: "alice")
    #expect(try events(bob).filter(\.hasMessage).map(\.message.text) == ["with bob"])
    #expect(try events(alice).filter(\.hasMessage).map(\.message.text) == ["before bob", "with bob", "after bob"])
  }

  @Test("message ids increase in acceptance order and every event carries its time")
  func idsIncrease() throws {
    let alice = try h.connect("alice")
    try registry.createGroup("g", by: "alice")
    var ids: [UInt64] = []
    for i in 0..<20 {
      ids.append(try registry.send("m\(i)", to: i % 2 == 0 ? RegistryHarness.group("g") : RegistryHarness.user("alice"), from: "alice"))
    }
    #expect(ids == ids.sorted() && Set(ids).count == ids.count)
    let received = try events(alice)
    #expect(received.filter(\.hasMessage).map(\.message.id) == ids)
    #expect(received.allSatisfy { $0.hasTime })
  }

  @Test("a disconnect leaves every group: members are told, empty groups vanish, the name is free")
  func disconnectLeavesGroups() throws {
    let alice = try h.connect("alice")
    let bob = try h.connect("bob")
    try registry.createGroup("shared", by: "alice")
    try registry.joinGroup("shared", by: "bob")
    try registry.createGroup("solo", by: "bob")
    _ = try [alice, bob].map(events)
    registry.disconnect(bob)
    #expect(try events(alice).map(\.memberLeft) == [.with { $0.group = "shared"; $0.username = "bob"; $0.reason = .disconnected }])
    #expect(registry.snapshot().groups.map(\.name) == ["shared"])
    #expect(registry.snapshot().users.map(\.name) == ["alice"])
    _ = try h.connect("bob")
  }

  @Test("a kick ends the session as kicked and members see KICKED")
  func kick() throws {
    let alice = try h.connect("alice")
    let bob = try h.connect("bob")
    try registry.createGroup("a", by: "bob")
    try registry.joinGroup("a", by: "alice")
    try registry.createGroup("b", by: "bob")
    _ = try [alice, bob].map(events)
    let outcome = try registry.kick("BOB", reason: "spam")
    #expect(outcome.groupsLeft == ["a", "b"])
    #expect(outcome.groupsDeleted == ["b"])
    #expect(try events(alice).map(\.memberLeft.reason) == [.kicked])
    #expect(ending(bob) == .kicked(reason: "spam"))
    #expect(throws: ChatError.noSuchUser("bob")) { try registry.kick("bob", reason: "") }
    #expect(h.logs.entries.contains { $0.level == .notice && $0.metadata["reason"] == "kicked" })
  }

  @Test("a session that can't keep up is ended as a slow consumer; the sender still gets OK")
  func slowConsumer() throws {
    let h = RegistryHarness { $0.maxQueueBytes = 2_000 }
    let alice = try h.connect("alice")
    let slow = try h.connect("slow")
    try h.registry.createGroup("g", by: "alice")
    try h.registry.joinGroup("g", by: "slow")
    let text = String(repeating: "x", count: 400)
    for _ in 0..<10 {
      try h.registry.send(text, to: RegistryHarness.group("g"), from: "alice")
      _ = try events(alice)  // alice keeps reading
    }
    guard case .slowConsumer(let bytes)? = ending(slow) else {
      Issue.record("slow session not ended")
      return
    }
    #expect(bytes > 2_000)
    #expect(h.registry.snapshot().users.map(\.name) == ["alice"])
    #expect(h.registry.snapshot().groups.map(\.members) == [["alice"]])
    #expect(h.logs.entries.contains { $0.metadata["reason"] == "slow_consumer" && $0.metadata["queued_bytes"] != nil })
  }

  @Test("broadcast reaches every session; shutdown ends them all and refuses new ones")
  func broadcastAndShutdown() throws {
    let sessions = try ["a", "b", "c"].map(h.connect)
    #expect(try registry.broadcast("maintenance at noon") == 3)
    for session in sessions {
      #expect(try events(session).map(\.notice.text) == ["maintenance at noon"])
    }
    #expect(throws: ChatError.invalidText("text is empty")) { try registry.broadcast("") }
    registry.shutdown()
    for session in sessions { #expect(ending(session) == .shutdown) }
    #expect(throws: ChatError.shuttingDown) { try registry.connect(ChatName.validate("d", as: .user)) }
    #expect(registry.snapshot().users.isEmpty)
  }

  @Test("channels list users then groups, each sorted case-insensitively, with registered spellings")
  func listChannels() throws {
    for name in ["carol", "Alice", "bob"] { _ = try h.connect(name) }
    try registry.createGroup("zeta", by: "bob")
    try registry.createGroup("Alpha", by: "carol")
    let channels = try registry.listChannels(for: "alice")
    #expect(channels.map(\.name) == ["Alice", "bob", "carol", "Alpha", "zeta"])
    #expect(channels.map(\.type) == [.user, .user, .user, .group, .group])
  }

  @Test("message text is never logged at info or above")
  func noTextInLogs() throws {
    _ = try h.connect("alice")
    try registry.send("top secret words", to: RegistryHarness.user("alice"), from: "alice")
    let leaked = h.logs.entries.filter { $0.level >= .info && "\($0.message) \($0.metadata)".contains("secret") }
    #expect(leaked.isEmpty)
    #expect(h.logs.entries.contains { $0.level == .debug && $0.message == "message accepted" })
  }
}
