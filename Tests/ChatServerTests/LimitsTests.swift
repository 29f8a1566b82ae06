import ChatTestSupport
import ChatAPI
import GRPCCore
import Testing

@testable import ChatConsole
@testable import ChatCore
@testable import ChatGRPC
@testable import ChatServer

@Suite("Limits, rate limiting and session tokens")
struct LimitsTests {
  @Test("Connect past --max-sessions is RESOURCE_EXHAUSTED; a freed slot is usable again")
  func maxSessions() throws {
    let h = RegistryHarness { $0.maxSessions = 2 }
    let a = try h.connect("a")
    _ = try h.connect("b")
    #expect(throws: ChatError.tooManySessions(limit: 2)) { try h.registry.connect(ChatName.validate("c", as: .user)) }
    #expect(ChatError.tooManySessions(limit: 2).rpcErrorCode == .resourceExhausted)
    h.registry.disconnect(a)
    _ = try h.connect("c")
  }

  @Test("CreateGroupChat past --max-groups, and create or join past --max-groups-per-user, are RESOURCE_EXHAUSTED")
  func maxGroups() throws {
    let h = RegistryHarness {
      $0.maxGroups = 3
      $0.maxGroupsPerUser = 2
    }
    _ = try h.connect("a")
    _ = try h.connect("b")
    try h.registry.createGroup("g1", by: "a")
    try h.registry.createGroup("g2", by: "a")
    #expect(throws: ChatError.tooManyGroupsForUser(user: "a", limit: 2)) { try h.registry.createGroup("g3", by: "a") }
    try h.registry.createGroup("g3", by: "b")
    #expect(throws: ChatError.tooManyGroups(limit: 3)) { try h.registry.createGroup("g4", by: "b") }
    try h.registry.joinGroup("g1", by: "b")
    #expect(throws: ChatError.tooManyGroupsForUser(user: "b", limit: 2)) { try h.registry.joinGroup("g2", by: "b") }
    try h.registry.leaveGroup("g1", by: "b")
    try h.registry.joinGroup("g2", by: "b")
    #expect(ChatError.tooManyGroups(limit: 3).rpcErrorMessage.contains("3"))
  }

  @Test("a user gets BURST limited calls at once, then RESOURCE_EXHAUSTED saying when to retry")
  func rateLimit() throws {
    let h = RegistryHarness { $0.rateLimit = RateLimit(perSecond: 2, burst: 3) }
    _ = try h.connect("alice")
    _ = try h.connect("bob")
    for _ in 0..<3 { _ = try h.registry.authenticate("alice", mode: .username, charge: true) }
    do {
      _ = try h.registry.authenticate("alice", mode: .username, charge: true)
      Issue.record("the fourth call was allowed")
    } catch {
      guard case .rateLimited(let user, _, let retryAfter) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(user == "alice")
      #expect(retryAfter > .zero && retryAfter <= .milliseconds(500))
      #expect(error.rpcErrorCode == .resourceExhausted)
      #expect(error.rpcErrorMessage.contains("retry in"))
      #expect(error.rpcErrorMetadata[stringValues: "grpc-retry-pushback-ms"].first(where: { _ in true }) != nil)
    }
    // Uncharged calls (ListChannels) and other users are not affected.
    _ = try h.registry.authenticate("alice", mode: .username, charge: false)
    _ = try h.registry.authenticate("bob", mode: .username, charge: true)
  }

  @Test("a token bucket refills at its rate up to its burst")
  func tokenBucket() {
    let limit = RateLimit(perSecond: 10, burst: 2)
    let start = ContinuousClock.now
    var bucket = TokenBucket(limit, now: start)
    #expect(bucket.take(limit, now: start) == nil)
    #expect(bucket.take(limit, now: start) == nil)
    let wait = bucket.take(limit, now: start)
    #expect(wait == .milliseconds(100))
    #expect(bucket.take(limit, now: start + .milliseconds(100)) == nil)
    // A long pause refills to the burst, not beyond.
    let later = start + .seconds(60)
    #expect(bucket.take(limit, now: later) == nil)
    #expect(bucket.take(limit, now: later) == nil)
    #expect(bucket.take(limit, now: later) != nil)
  }

  @Test(
    "--rate-limit parses RATE/BURST and off, and rejects anything else",
    arguments: [("20/50", RateLimit(perSecond: 20, burst: 50)), ("0.5/1", RateLimit(perSecond: 0.5, burst: 1)), ("OFF", nil)])
  func parseRateLimit(text: String, expected: RateLimit?) throws {
    #expect(try RateLimit.parse(text) == expected)
  }

  @Test("malformed --rate-limit values are refused", arguments: ["", "20", "20/", "/50", "0/5", "5/0", "-1/5", "a/b", "20/50/1", "inf/5"])
  func badRateLimit(text: String) {
    #expect(throws: RateLimitSyntaxError.self) { try RateLimit.parse(text) }
  }

  @Test("in session mode only the session id from Welcome authenticates, never a username")
  func sessionTokens() throws {
    let h = RegistryHarness()
    let alice = try h.connect("alice")
    let bob = try h.connect("bob")
    #expect(try h.registry.authenticate(alice.token, mode: .session, charge: false).user.display == "alice")
    #expect(try h.registry.authenticate(bob.token, mode: .session, charge: false).user.display == "bob")
    #expect(throws: ChatError.unknownSessionToken(length: 5)) { try h.registry.authenticate("alice", mode: .session, charge: false) }
    let madeUp = String(repeating: "0", count: 32)
    #expect(throws: ChatError.unknownSessionToken(length: madeUp.count)) { try h.registry.authenticate(madeUp, mode: .session, charge: false) }
    #expect(!ChatError.unknownSessionToken(length: madeUp.count).rpcErrorMessage.contains(madeUp))
    h.registry.disconnect(alice)
    #expect(throws: ChatError.unknownSessionToken(length: alice.token.count)) { try h.registry.authenticate(alice.token, mode: .session, charge: false) }
  }

  @Test("rate limiting over the wire: RESOURCE_EXHAUSTED after the burst, ListChannels exempt", arguments: ServerTransportKind.allCases)
  func rateLimitEndToEnd(transport: ServerTransportKind) async throws {
    // A refill every 100 s: however slow the machine, the third call finds the bucket empty.
    let server = try await TestServer { $0.transport = transport; $0.limits.rateLimit = RateLimit(perSecond: 0.01, burst: 2) }
    let alice = try await server.user("alice")
    try await alice.create("g")
    try await alice.send("one", to: "g", .group)
    let error = await rpcError { try await alice.send("two", to: "g", .group) }
    #expect(error?.code == .resourceExhausted)
    #expect(error?.message.contains("retry in") == true)
    _ = try await alice.list()
    #expect(server.logs.entries.contains { $0.metadata["code"] == "RESOURCE_EXHAUSTED" })
    alice.close()
    try await server.stop()
  }

  @Test("Connect past --max-sessions over the wire is RESOURCE_EXHAUSTED", arguments: ServerTransportKind.allCases)
  func maxSessionsEndToEnd(transport: ServerTransportKind) async throws {
    let server = try await TestServer { $0.transport = transport; $0.limits.maxSessions = 1 }
    let alice = try await server.user("alice")
    let refused = try await TestUser.failingConnect("bob", port: server.port)
    #expect(refused?.code == .resourceExhausted)
    alice.close()
    try await server.stop()
  }
}
