import ChatAPI
import Foundation
import GRPCCore
import Testing

/// The real `chat-server` executable with its console on a pipe, and real
/// gRPC clients.
@Suite("Operator console, end to end")
struct ConsoleProcessTests {
  @Test("users, groups and members show what clients did; kick and broadcast reach them")
  func administer() async throws {
    let server = try await ServerProcess.start()
    let alice = try await TestUser.connect("alice", port: server.port)
    let bob = try await TestUser.connect("Bob", port: server.port)
    let carol = try await TestUser.connect("carol", port: server.port)
    try await alice.create("Lounge")
    try await bob.join("lounge")
    try await carol.create("dev")
    _ = try await alice.next(until: { $0.memberJoined.username == "Bob" })

    try server.type("users\n")
    let users = try await server.stdout.nextLines(4)
    #expect(users.map { String($0.prefix { $0 != " " }) } == ["alice", "Bob", "carol", "3"])
    #expect(users.dropLast().allSatisfy { $0.contains("  guest  connected ") && $0.hasSuffix("  1 session  1 group") })
    #expect(users.last == "3 users: 3 guests, 0 accounts")

    try server.type("groups\nmembers LOUNGE\n")
    #expect(try await server.stdout.nextLines(3) == ["dev     1 member", "Lounge  2 members", "2 groups"])
    #expect(
      try await server.stdout.nextLines(3)
        == ["alice  guest    online", "Bob    guest    online", "2 members of Lounge, 2 online"])

    try server.type("kick bob spamming the lounge\n")
    #expect(try await server.stdout.nextLines(1) == ["kicked Bob: left 1 group (Lounge), deleted no empty groups"])
    let kicked = await bob.streamEnd()
    #expect(kicked?.code == .permissionDenied)
    #expect(kicked?.message.contains("kicked") == true)
    #expect(kicked?.message.contains("spamming the lounge") == true)
    let left = try await alice.next(until: { $0.hasMemberLeft }).last?.memberLeft
    #expect(left == .with { $0.group = "Lounge"; $0.username = "Bob"; $0.reason = .kicked })

    try server.type("broadcast maintenance at noon\n")
    #expect(try await server.stdout.nextLines(1) == ["broadcast reached 2 sessions"])
    for user in [alice, carol] {
      #expect(try await user.next(until: { $0.hasNotice }).last?.notice.text == "maintenance at noon")
    }

    try server.type("kick bob\n")
    #expect(try await server.stdout.nextLines(1) == ["error: no user or account 'bob': 'users' and 'accounts' list them."])

    let log = try await server.stderr.waitFor(" console broadcast ")
    #expect(log.contains(" notice console kick groups_deleted=0 groups_left=1 reason=\"spamming the lounge\" user=Bob\n"))
    #expect(log.contains(" notice console broadcast bytes=19 sessions=2\n"))
    #expect(!log.contains("maintenance"))
    #expect(!server.stdout.text.contains(" notice "))

    for user in [alice, bob, carol] { user.close() }
    server.signal(SIGTERM)
    #expect(try await server.exitStatus() == 0)
  }

  @Test("end of input closes the console; the server goes on serving")
  func endOfInput() async throws {
    let server = try await ServerProcess.start()
    try server.type("users\n")
    #expect(try await server.stdout.nextLines(1) == ["0 users"])
    try server.closeInput()
    try await server.stderr.waitFor(" console closed at end of input")

    let alice = try await TestUser.connect("alice", port: server.port)
    #expect(try await alice.list().map(\.name) == ["alice"])
    server.signal(SIGTERM)
    #expect(await alice.streamEnd()?.code == .unavailable)
    #expect(try await server.exitStatus() == 0)
  }

  @Test(
    "shutdown exits 0 within 5 seconds, every stream ended UNAVAILABLE (tasks on Swift's pool or on the event loops)",
    arguments: [[], ["--tasks-on-event-loops"]])
  func shutdown(arguments: [String]) async throws {
    let server = try await ServerProcess.start(arguments)
    let alice = try await TestUser.connect("alice", port: server.port)
    let bob = try await TestUser.connect("bob", port: server.port)
    try await alice.create("lounge")
    try await bob.join("lounge")
    #expect(try await alice.next(until: { $0.memberJoined.username == "bob" }).last?.memberJoined.group == "lounge")

    let start = ContinuousClock.now
    try server.type("shutdown\n")
    #expect(try await server.stdout.nextLines(1) == ["shutting down"])
    for user in [alice, bob] {
      let end = await user.streamEnd()
      #expect(end?.code == .unavailable)
      #expect(end?.message == "the server is shutting down.")
    }
    #expect(try await server.exitStatus(within: 5) == 0)
    #expect(ContinuousClock.now - start < .seconds(5))
    #expect(server.stderr.text.contains(" notice console shutdown\n"))
    #expect(server.stderr.text.contains(" info tasks run on the event loops\n") == arguments.contains("--tasks-on-event-loops"))
  }

  @Test("--no-console leaves stdin unread")
  func noConsole() async throws {
    let server = try await ServerProcess.start(["--no-console"])
    try server.type("shutdown\n")
    let alice = try await TestUser.connect("alice", port: server.port)
    #expect(try await alice.list().map(\.name) == ["alice"])
    alice.close()
    server.signal(SIGTERM)
    #expect(try await server.exitStatus() == 0)
    #expect(server.stdout.text.isEmpty)
    #expect(!server.stderr.text.contains("console"))
  }
}

extension Chat_V1_Event {
  var hasMemberLeft: Bool {
    if case .memberLeft? = kind { return true }
    return false
  }

  var hasNotice: Bool {
    if case .notice? = kind { return true }
    return false
  }
}
