import ChatTestSupport
import ChatCore
import ChatServer
import Testing

/// The real `chat-client` executable, scripted through its standard input,
/// against a real server.
@Suite("chat-client end to end")
struct ChatClientEndToEndTests {
  @Test("a scripted session prints events, errors and the kick, and exits 1 when kicked")
  func session() async throws {
    let server = try await TestServer()
    let alice = try ChatClientProcess("alice", port: server.port)
    let bob = try ChatClientProcess("bob", port: server.port)
    let welcome = try await alice.expect("* connected as alice")
    #expect(welcome.wholeMatch(of: /\d\d:\d\d:\d\d \* connected as alice/) != nil)
    try await bob.expect("* connected as bob")

    alice.type("/create general")
    try await alice.expect("> /create general")
    try await alice.expect("* alice joined #general")
    bob.type("/join #general")
    try await bob.expect("* bob joined #general")
    try await alice.expect("* bob joined #general")

    alice.type("/say general hello bob")
    try await alice.expect("[#general] alice: hello bob")
    try await bob.expect("[#general] alice: hello bob")
    bob.type("/msg alice psst")
    try await alice.expect("[@bob → alice] psst")

    // Errors are one line each, and the client goes on.
    alice.type("/join nowhere")
    try await alice.expect("! NOT_FOUND: no group 'nowhere'.")
    alice.type("just text")
    try await alice.expect("! no channel to send to: /to #<group> or /to @<user> first, or /help.")
    alice.type("/frobnicate")
    try await alice.expect("! unknown command '/frobnicate': /help lists the commands.")

    alice.type("/to @bob")
    try await alice.expect("* talking to @bob")
    alice.type("plain lines go to bob")
    try await bob.expect("[@alice → bob] plain lines go to bob")
    alice.type("/list")
    try await alice.expect("* users: @alice, @bob; groups: #general")

    _ = try server.registry.kick("alice", reason: "flooding")
    try await alice.expect("! disconnected: PERMISSION_DENIED: kicked by the operator: flooding")
    #expect(try await alice.exitStatus() == 1)
    try await bob.expect("* alice left #general (kicked)")

    bob.type("/quit")
    #expect(try await bob.exitStatus() == 0)
    try await server.stop()
  }

  @Test("a script runs to its end, in order, then the client disconnects and exits 0")
  func endOfInput() async throws {
    let server = try await TestServer()
    let bob = try ChatClientProcess("bob", port: server.port)
    try await bob.expect("* connected as bob")
    bob.type("/create g")
    try await bob.expect("* bob joined #g")

    // The whole script at once, then the end of input.
    let alice = try ChatClientProcess("alice", port: server.port)
    alice.type("/join g")
    alice.type("/say g one")
    alice.type("/say g two")
    try alice.endInput()
    try await bob.expect("* alice joined #g")
    try await bob.expect("[#g] alice: one")
    try await bob.expect("[#g] alice: two")
    try await bob.expect("* alice left #g (disconnected)")
    #expect(try await alice.exitStatus() == 0)
    try await alice.expect("> /say g two")

    try bob.endInput()
    #expect(try await bob.exitStatus() == 0)
    try await server.stop()
  }

  @Test("a name the server refuses ends the client with the reason and status 1")
  func refused() async throws {
    let server = try await TestServer()
    let bob = try ChatClientProcess("bob", port: server.port)
    try await bob.expect("* connected as bob")
    let impostor = try ChatClientProcess("BOB", port: server.port)
    try await impostor.expect("! cannot connect: ALREADY_EXISTS: user 'BOB' is already connected.")
    #expect(try await impostor.exitStatus() == 1)
    try bob.endInput()
    #expect(try await bob.exitStatus() == 0)
    try await server.stop()
  }

  @Test("with --auth session the calls carry the session id from Welcome, as a server in session mode wants")
  func sessionAuthorization() async throws {
    let server = try await TestServer { $0.auth = .session }
    let alice = try ChatClientProcess("alice", port: server.port, arguments: ["--auth", "session"])
    try await alice.expect("* connected as alice")
    alice.type("/create g")
    try await alice.expect("* alice joined #g")

    // A client that names its user instead is refused, call by call.
    let bob = try ChatClientProcess("bob", port: server.port)
    try await bob.expect("* connected as bob")
    bob.type("/join g")
    try await bob.expect("! UNAUTHENTICATED: ")
    try await bob.expect("! hint: if the server runs with --auth session, start chat-client with --auth session")
    bob.type("/quit")
    #expect(try await bob.exitStatus() == 0)
    try alice.endInput()
    #expect(try await alice.exitStatus() == 0)
    try await server.stop()
  }

  @Test("an operator's notice is shown as coming from the operator, not as an error")
  func notice() async throws {
    let server = try await TestServer()
    let alice = try ChatClientProcess("alice", port: server.port)
    try await alice.expect("* connected as alice")
    #expect(try server.registry.broadcast("restart at 18:00") == 1)
    let line = try await alice.expect("restart at 18:00")
    #expect(line.wholeMatch(of: /\d\d:\d\d:\d\d \* notice from the operator: restart at 18:00/) != nil, "\(line)")
    try alice.endInput()
    #expect(try await alice.exitStatus() == 0)
    try await server.stop()
  }

  @Test("a /to target or a group name that cannot work is refused at once, naming it, and the old target stays")
  func refusedAtOnce() async throws {
    let server = try await TestServer()
    let alice = try ChatClientProcess("alice", port: server.port)
    try await alice.expect("* connected as alice")
    alice.type("/create g")
    try await alice.expect("* alice joined #g")
    alice.type("/to #g")
    try await alice.expect("* talking to #g")

    alice.type("/to @nobody")
    try await alice.expect("! cannot talk to @nobody: no connected user 'nobody' (still talking to #g).")
    alice.type("/to #nosuch")
    try await alice.expect("! cannot talk to #nosuch: no group 'nosuch' (still talking to #g).")
    alice.type("/join bad name")
    try await alice.expect("! invalid group name 'bad name': use 1 to 32 characters from A-Z a-z 0-9 _ - .")
    alice.type("still here")
    try await alice.expect("[#g] alice: still here")

    try alice.endInput()
    #expect(try await alice.exitStatus() == 0)
    try await server.stop()
  }

  @Test("leaving the group one talks to drops it as the target, in the words others see, and says when it was deleted")
  func leaveTarget() async throws {
    let server = try await TestServer()
    let alice = try ChatClientProcess("alice", port: server.port)
    let bob = try ChatClientProcess("bob", port: server.port)
    try await alice.expect("* connected as alice")
    try await bob.expect("* connected as bob")
    alice.type("/create general")
    try await alice.expect("* alice joined #general")
    bob.type("/join general")
    try await bob.expect("* bob joined #general")
    bob.type("/to #general")
    try await bob.expect("* talking to #general")

    // bob is not the last member: the group stays.
    bob.type("/leave #general")
    try await bob.expect("* bob left #general")
    try await bob.expect("* no longer talking to #general")
    try await alice.expect("* bob left #general")
    bob.type("hello?")
    try await bob.expect("! no channel to send to: /to #<group> or /to @<user> first, or /help.")
    #expect(!bob.output.everything.contains { $0.contains("was deleted") })

    // alice is: her leaving deletes it.
    alice.type("/leave general")
    try await alice.expect("* alice left #general")
    try await alice.expect("* #general was deleted (its last member left)")

    try alice.endInput()
    try bob.endInput()
    #expect(try await alice.exitStatus() == 0)
    #expect(try await bob.exitStatus() == 0)
    try await server.stop()
  }

  @Test("a script faster than the server's rate limit waits as the server asks and loses no line")
  func rateLimitedScript() async throws {
    let server = try await TestServer { $0.limits.rateLimit = RateLimit(perSecond: 20, burst: 2) }
    let bob = try ChatClientProcess("bob", port: server.port)
    try await bob.expect("* connected as bob")
    bob.type("/create g")
    try await bob.expect("* bob joined #g")

    let lines = (1...30).map { "line \($0) of 30" }
    let alice = try ChatClientProcess("alice", port: server.port)
    alice.type("/join g")
    for line in lines { alice.type("/say g \(line)") }
    try alice.endInput()
    try await bob.expect("* alice joined #g")
    // expect() moves past each line it finds: they come in order.
    for line in lines { try await bob.expect("[#g] alice: \(line)") }
    #expect(try await alice.exitStatus(seconds: 10) == 0)
    #expect(!alice.output.everything.contains { $0.contains(" ! ") }, "\(alice.output.everything)")

    try bob.endInput()
    #expect(try await bob.exitStatus() == 0)
    try await server.stop()
  }

  @Test("with --no-reconnect, a server shutting down ends the session with UNAVAILABLE and status 1")
  func shutdown() async throws {
    let server = try await TestServer()
    let alice = try ChatClientProcess("alice", port: server.port, arguments: ["--no-reconnect"])
    try await alice.expect("* connected as alice")
    try await server.stop()
    try await alice.expect("! disconnected: UNAVAILABLE: the server is shutting down.")
    #expect(try await alice.exitStatus() == 1)
  }

  @Test("a server that restarts is reconnected to, and the client says events may be missing")
  func reconnect() async throws {
    let server = try await TestServer()
    let port = server.port
    let alice = try ChatClientProcess("alice", port: port)
    try await alice.expect("* connected as alice")
    alice.type("/create g")
    try await alice.expect("* alice joined #g")

    try await server.stop()
    try await alice.expect("! disconnected: UNAVAILABLE: the server is shutting down. (reconnecting in ")
    let restarted = try await TestServer { $0.port = port }
    // A guest's Welcome never recovers anything; the backoff is at most 0.5 + 1 + 2 + 4 s by then.
    try await alice.expect("* reconnected; some events may be missing (use /history)", seconds: 20)
    alice.type("/create g")
    try await alice.expect("* alice joined #g")
    try alice.endInput()
    #expect(try await alice.exitStatus() == 0)
    try await restarted.stop()
  }

  @Test("without a name or a kept token the client is not connected, and says what to do")
  func notConnected() async throws {
    let server = try await TestServer()
    let client = try ChatClientProcess(nil, port: server.port)
    try await client.expect("* not connected to 127.0.0.1:\(server.port): /signup <name> or /signin <name>")
    client.type("/list")
    try await client.expect("! not connected: /signup <name> or /signin <name> first")
    client.type("/signin alice")
    client.type("not echoed 1")
    client.type("/quit")
    #expect(try await client.exitStatus() == 0)
    #expect(!client.output.everything.contains { $0.contains("not echoed") }, "\(client.output.everything)")
    try await server.stop()
  }
}
