import ChatAPI
import ChatGRPC
import Foundation
import Testing

@testable import ChatCore

/// Accounts on a registry harness: sign-up, sessions and calls by token.
extension RegistryHarness {
  func signUp(_ name: String) throws -> TokenHash {
    let token = TokenHash(Array(name.utf8) + [0])
    _ = try registry.signUp(
      ChatName.validate(name, as: .user), passwordHash: Data([1]), token: token, expires: Date().addingTimeInterval(600))
    return token
  }

  /// An account session, its Welcome (and anything replayed) consumed.
  func session(_ token: TokenHash) throws -> Session {
    let session = try registry.connect(token: token, requested: "", resume: nil)
    _ = try events(session)
    return session
  }

  func caller(_ token: TokenHash) throws -> Caller { try registry.authenticate(token: token, charge: false) }

  /// The guest alice in #lounge with the account `name`, which has one
  /// session; what alice was sent so far is taken.
  func loungeWithAccount(_ name: String) throws -> (alice: Session, token: TokenHash, session: Session) {
    let alice = try connect("alice")
    try registry.createGroup("lounge", by: "alice")
    let token = try signUp(name)
    let session = try session(token)
    try registry.joinGroup("lounge", by: caller(token))
    _ = try events(alice)
    return (alice, token, session)
  }
}

/// The PresenceChanged events among `events`, as "name online|offline".
func presence(_ events: [Chat_V1_Event]) -> [String] {
  events.compactMap { event in
    guard case .presence(let change)? = event.kind else { return nil }
    return "\(change.username) \(change.online ? "online" : "offline")"
  }
}

@Suite("Presence: accounts coming online and going offline")
struct PresenceTests {
  @Test("an account's first session is announced once to every session sharing a group with it; its other sessions are not")
  func online() throws {
    let h = RegistryHarness { $0.presenceGrace = .zero }
    let alice = try h.connect("alice")
    let carol = try h.connect("carol")
    try h.registry.createGroup("lounge", by: "alice")
    try h.registry.createGroup("dev", by: "alice")
    let zoe = try h.signUp("Zoe")
    let first = try h.session(zoe)
    try h.registry.joinGroup("lounge", by: h.caller(zoe))
    try h.registry.joinGroup("dev", by: h.caller(zoe))
    h.registry.disconnect(first)
    #expect(presence(try events(alice)) == ["Zoe offline"])
    let again = try h.session(zoe)
    let second = try h.session(zoe)
    let seen = try events(alice)
    #expect(presence(seen) == ["Zoe online"])
    #expect(seen.map(\.seq) == [0])
    // Not in a group with Zoe, not Zoe herself.
    #expect(presence(try events(carol)).isEmpty)
    #expect(presence(try events(again)).isEmpty)
    #expect(presence(try events(second)).isEmpty)
  }

  @Test("with no grace, the last session's end announces offline at once; an earlier one's end announces nothing")
  func offlineAtOnce() throws {
    let h = RegistryHarness { $0.presenceGrace = .zero }
    let (alice, zoe, one) = try h.loungeWithAccount("zoe")
    let two = try h.session(zoe)
    h.registry.disconnect(one)
    #expect(try events(alice).isEmpty)
    h.registry.disconnect(two)
    #expect(presence(try events(alice)) == ["zoe offline"])
  }

  @Test("within the grace a reconnect announces nothing; past it, offline is announced once")
  func grace() throws {
    let h = RegistryHarness { $0.presenceGrace = .seconds(5) }
    let (alice, zoe, first) = try h.loungeWithAccount("zoe")
    let start = ContinuousClock.now

    // A reconnect inside the grace: silence, now and when the grace has passed.
    h.registry.disconnect(first)
    let second = try h.session(zoe)
    #expect(h.registry.expirePresence(now: start + .seconds(60)) == nil)
    #expect(try events(alice).isEmpty)

    // Gone for good: nothing before the grace has passed, offline once after it.
    h.registry.disconnect(second)
    let due = try #require(h.registry.expirePresence(now: .now))
    #expect(due > .now + .seconds(4))
    #expect(try events(alice).isEmpty)
    #expect(try h.registry.listMembers("lounge", by: h.registry.caller("alice")).map(\.online) == [true, true])
    #expect(h.registry.expirePresence(now: due) == nil)
    #expect(presence(try events(alice)) == ["zoe offline"])
    #expect(h.registry.expirePresence(now: due + .seconds(60)) == nil)
    #expect(try events(alice).isEmpty)

    // Coming back after that is announced.
    _ = try h.session(zoe)
    #expect(presence(try events(alice)) == ["zoe online"])
  }

  @Test("offline announcements fall due in the order accounts went offline, each after its own grace")
  func dueInOrder() throws {
    let h = RegistryHarness { $0.presenceGrace = .seconds(5) }
    let alice = try h.connect("alice")
    try h.registry.createGroup("lounge", by: "alice")
    var sessions: [Session] = []
    for name in ["a1", "a2", "a3"] {
      let token = try h.signUp(name)
      sessions.append(try h.session(token))
      try h.registry.joinGroup("lounge", by: h.caller(token))
    }
    _ = try events(alice)
    h.registry.disconnect(sessions[0])
    let firstDue = try #require(h.registry.expirePresence(now: .now))
    h.registry.disconnect(sessions[1])
    h.registry.disconnect(sessions[2])
    let secondDue = try #require(h.registry.expirePresence(now: firstDue))
    #expect(presence(try events(alice)) == ["a1 offline"])
    #expect(secondDue > firstDue)
    #expect(h.registry.expirePresence(now: secondDue + .seconds(5)) == nil)
    #expect(presence(try events(alice)) == ["a2 offline", "a3 offline"])
  }

  @Test("guests are never announced: they keep MemberJoined and MemberLeft")
  func guests() throws {
    let h = RegistryHarness { $0.presenceGrace = .zero }
    let alice = try h.connect("alice")
    try h.registry.createGroup("lounge", by: "alice")
    let bob = try h.connect("bob")
    try h.registry.joinGroup("lounge", by: "bob")
    h.registry.disconnect(bob)
    let seen = try events(alice)
    #expect(presence(seen).isEmpty)
    #expect(seen.map(\.memberJoined.username) == ["alice", "bob", ""])
    #expect(seen.last?.memberLeft.reason == .disconnected)
  }

  @Test("a kicked account is announced offline, then leaves its groups with MemberLeft KICKED")
  func kicked() throws {
    let h = RegistryHarness { $0.presenceGrace = .zero }
    let (alice, _, _) = try h.loungeWithAccount("zoe")
    _ = try h.registry.kick("zoe", reason: "")
    let seen = try events(alice)
    #expect(presence(seen) == ["zoe offline"])
    #expect(seen.last?.memberLeft.reason == .kicked)
  }
}

@Suite("ListMembers")
struct ListMembersTests {
  @Test("members sorted case-insensitively with online state, account flag and last seen for offline accounts")
  func members() throws {
    let h = RegistryHarness { $0.presenceGrace = .zero }
    _ = try h.connect("carol")
    try h.registry.createGroup("lounge", by: "carol")
    let zoe = try h.signUp("Zoe")
    let yan = try h.signUp("yan")
    let zoeSession = try h.session(zoe)
    _ = try h.session(yan)
    try h.registry.joinGroup("lounge", by: h.caller(zoe))
    try h.registry.joinGroup("lounge", by: h.caller(yan))
    let before = Date()
    h.registry.disconnect(zoeSession)
    let members = try h.registry.listMembers("LOUNGE", by: h.caller(yan))
    #expect(members.map(\.name.display) == ["carol", "yan", "Zoe"])
    #expect(members.map(\.online) == [true, true, false])
    #expect(members.map(\.account) == [false, true, true])
    #expect(members[0].lastSeen == nil)
    #expect(members[1].lastSeen == nil)
    let lastSeen = try #require(members[2].lastSeen)
    #expect(lastSeen >= before && lastSeen <= Date())
    // An offline account may still ask.
    #expect(try h.registry.listMembers("lounge", by: h.caller(zoe)).count == 3)
  }

  @Test("ListMembers refuses what it must", arguments: [
    ("dev", ChatError.notMemberCannotList(group: "dev", user: "carol"), "PERMISSION_DENIED"),
    ("nope", .noSuchGroup("nope"), "NOT_FOUND"),
    ("bad name!", .invalidName(.group, "bad name!"), "INVALID_ARGUMENT"),
    ("", .invalidName(.group, ""), "INVALID_ARGUMENT"),
  ])
  func refusals(group: String, error: ChatError, code: String) throws {
    let h = RegistryHarness()
    _ = try h.connect("alice")
    _ = try h.connect("carol")
    try h.registry.createGroup("dev", by: "alice")
    #expect(throws: error) { try h.registry.listMembers(group, by: h.registry.caller("carol")) }
    #expect(error.rpcErrorCode.grpcName == code)
  }
}

@Suite("The lobby (--lobby)")
struct LobbyTests {
  @Test("every guest session joins the lobby on Connect: Welcome, then its MemberJoined; the others see it join and leave")
  func guests() throws {
    let h = RegistryHarness(lobby: "General")
    let alice = try h.registry.connect(ChatName.validate("alice", as: .user))
    let first = try events(alice)
    #expect(first.count == 2)
    #expect(first.first?.welcome.username == "alice")
    #expect(first.last?.memberJoined == .with { $0.group = "General"; $0.username = "alice" })
    #expect(first.last?.seq ?? 0 > first.first?.welcome.position.seq ?? .max)
    let bob = try h.registry.connect(ChatName.validate("bob", as: .user))
    #expect(try events(alice).map(\.memberJoined.username) == ["bob"])
    #expect(try events(bob).count == 2)
    h.registry.disconnect(bob)
    #expect(try events(alice).map(\.memberLeft.reason) == [.disconnected])
    #expect(try h.registry.listChannels(for: "alice").map(\.name) == ["alice", "General"])
  }

  @Test("the lobby outlives its last member, cannot be created again, and does not count against the groups per user")
  func permanent() throws {
    let h = RegistryHarness(lobby: "general") { $0.maxGroupsPerUser = 1 }
    #expect(h.registry.snapshot().groups.map(\.name) == ["general"])
    let alice = try h.registry.connect(ChatName.validate("alice", as: .user))
    _ = try events(alice)
    try h.registry.createGroup("dev", by: "alice")
    #expect(throws: ChatError.groupAlreadyExists("General")) { try h.registry.createGroup("General", by: "alice") }
    try h.registry.leaveGroup("general", by: "alice")
    h.registry.disconnect(alice)
    #expect(h.registry.snapshot().groups.map(\.name) == ["general"])
    let again = try h.registry.connect(ChatName.validate("alice", as: .user))
    #expect(try events(again).last?.memberJoined.group == "general")
  }

  @Test("an account joins the lobby once and stays in it while offline")
  func accounts() throws {
    let h = RegistryHarness(lobby: "general") { $0.presenceGrace = .zero }
    let guest = try h.registry.connect(ChatName.validate("carol", as: .user))
    _ = try events(guest)
    let zoe = try h.signUp("zoe")
    let first = try h.registry.connect(token: zoe, requested: "", resume: nil)
    let firstEvents = try events(first)
    #expect(firstEvents.map(\.memberJoined.username) == ["", "zoe"])
    // Joined, then (as its first session opened before it was in the group) no online announcement.
    #expect(try events(guest).map(\.memberJoined.username) == ["zoe"])
    // A second session joins nothing new.
    let second = try h.registry.connect(token: zoe, requested: "", resume: nil)
    #expect(try events(guest).isEmpty)
    h.registry.disconnect(first)
    h.registry.disconnect(second)
    #expect(presence(try events(guest)) == ["zoe offline"])
    let members = try h.registry.listMembers("general", by: h.registry.caller("carol"))
    #expect(members.map(\.name.display) == ["carol", "zoe"])
    _ = try h.session(zoe)
    #expect(presence(try events(guest)) == ["zoe online"])
  }
}
