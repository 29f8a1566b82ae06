import ChatAPI
import ChatClientCore
import GRPCCore
import Synchronization
import Testing

/// Calls answered from a list of users and groups, recorded; the next calls
/// fail with the errors queued by `fail`.
final class FakeChatCalls: ChatCalls {
  private struct State {
    var users: [String]
    var groups: [String]
    /// Groups the session is the last member of: leaving deletes them.
    var lastMemberOf: Set<String>
    var failures: [any Error & Sendable] = []
    var made: [String] = []
    /// What History answers from, whatever the channel.
    var log: [Chat_V1_Event] = []
    /// What History fails with, if anything.
    var historyFailure: (any Error & Sendable)?
    /// ListMembers' answers, by group; other groups are PERMISSION_DENIED.
    var members: [String: [Chat_V1_Member]] = [:]
  }
  private let state: Mutex<State>

  init(users: [String] = ["alice", "Bob"], groups: [String] = ["general", "books"], lastMemberOf: Set<String> = []) {
    state = Mutex(State(users: users, groups: groups, lastMemberOf: lastMemberOf))
  }

  /// Every call made, as `send #general hi`, `leave general`, `list`.
  var made: [String] { state.withLock { $0.made } }

  /// History answers with these events.
  func setLog(_ events: [Chat_V1_Event]) {
    state.withLock { $0.log = events }
  }

  /// ListMembers answers `members` for `group` (the session is in it).
  func setMembers(_ members: [Chat_V1_Member], of group: String) {
    state.withLock { $0.members[group] = members }
  }

  func failHistory(with error: any Error & Sendable) {
    state.withLock { $0.historyFailure = error }
  }

  func fail(with errors: any Error & Sendable...) {
    state.withLock { $0.failures += errors }
  }

  private func call(_ description: String, _ body: (inout State) -> Void = { _ in }) throws {
    try state.withLock { state in
      state.made.append(description)
      if !state.failures.isEmpty { throw state.failures.removeFirst() }
      body(&state)
    }
  }

  func createGroup(_ group: String) async throws { try call("create \(group)") }
  func joinGroup(_ group: String) async throws { try call("join \(group)") }
  func leaveGroup(_ group: String) async throws {
    try call("leave \(group)") { state in
      if state.lastMemberOf.contains(group.lowercased()) { state.groups.removeAll { $0.lowercased() == group.lowercased() } }
    }
  }
  func send(_ text: String, to target: ChatTarget) async throws { try call("send \(target) \(text)") }
  func history(of target: ChatTarget, beforeSeq: UInt64, limit: Int) async throws -> Chat_V1_HistoryResponse {
    try call("history \(target) before \(beforeSeq) limit \(limit)")
    return try state.withLock { state in
      if let failure = state.historyFailure { throw failure }
      // The newest first, as History pages before_seq.
      let older = state.log.filter { beforeSeq == 0 || $0.seq < beforeSeq }.sorted { $0.seq > $1.seq }
      return .with {
        $0.events = Array(older.prefix(limit))
        $0.hasMore_p = older.count > limit
      }
    }
  }
  func signUp(_ username: String, password: String) async throws -> AccountToken {
    try call("signup \(username)")
    return AccountToken(username: username, token: "ct_issued", expiresAt: nil)
  }
  func signIn(_ username: String, password: String) async throws -> AccountToken {
    try call("signin \(username)")
    return AccountToken(username: username, token: "ct_issued", expiresAt: nil)
  }
  func signOut() async throws { try call("signout") }
  func listMembers(_ group: String) async throws -> [Chat_V1_Member] {
    try call("members \(group)")
    return try state.withLock { state in
      guard let members = state.members[group] else {
        throw RPCError(code: .permissionDenied, message: "not a member of group '\(group)'.")
      }
      return members
    }
  }
  func listChannels() async throws -> [Chat_V1_Channel] {
    try call("list")
    return state.withLock { state in
      let users = state.users.map { name in Chat_V1_Channel.with { $0.type = .user; $0.name = name } }
      let groups = state.groups.map { name in Chat_V1_Channel.with { $0.type = .group; $0.name = name } }
      return users + groups
    }
  }
}

/// What a session printed, and the prompt's targets in order.
final class RecordingOutput: SessionOutput {
  private let state = Mutex((lines: [String](), targets: [ChatTarget?]()))

  func print(_ line: String) { state.withLock { $0.lines.append(line) } }
  func show(target: ChatTarget?) { state.withLock { $0.targets.append(target) } }

  /// The lines without their time.
  var lines: [String] {
    state.withLock { $0.lines }.map { $0.replacing(#/^\d\d:\d\d:\d\d /#, with: "") }
  }
  var targets: [ChatTarget?] { state.withLock { $0.targets } }
}

@Suite("Commands in a session")
struct CommandRunnerTests {
  let output = RecordingOutput()

  func makeRunner(_ calls: any ChatCalls, authorization: CallAuthorization = .username) -> CommandRunner {
    CommandRunner(calls: calls, output: output, formatter: EventFormatter(), username: "alice", authorization: authorization)
  }

  @Test("plain lines go to the /to target, after a check that it exists")
  func plainLines() async {
    let calls = FakeChatCalls()
    var runner = makeRunner(calls)
    for line in ["/to #general", "hi all", "/to"] { _ = await runner.run(line) }
    #expect(output.lines == ["* talking to #general", "* talking to #general"])
    #expect(calls.made == ["list", "send #general hi all"])
    #expect(runner.target == .group("general"))
  }

  @Test("/members lists the /to group's members, or the named group's; with neither it says what to type")
  func members() async {
    let calls = FakeChatCalls()
    calls.setMembers(
      [.with { $0.username = "alice"; $0.online = true }, .with { $0.username = "zoe"; $0.account = true }],
      of: "general")
    var runner = makeRunner(calls)
    _ = await runner.run("/members")
    for line in ["/to #general", "/members", "/members books"] { _ = await runner.run(line) }
    #expect(
      output.lines == [
        "! usage: /members [group]: name a group, or /to #<group> first.",
        "* talking to #general",
        "* #general: 2 members, 1 online",
        "*   alice (online)",
        "*   zoe (account, offline)",
        "! PERMISSION_DENIED: not a member of group 'books'.",
      ])
    #expect(calls.made == ["list", "members general", "members books"])
  }

  @Test("/list marks the groups the session is in (those whose members it may list)")
  func listMarksJoined() async {
    let calls = FakeChatCalls()
    calls.setMembers([.with { $0.username = "alice"; $0.online = true }], of: "books")
    var runner = makeRunner(calls)
    _ = await runner.run("/list")
    #expect(output.lines == ["* users: @alice, @Bob; groups: #general, #books (joined)"])
    #expect(Set(calls.made) == ["list", "members general", "members books"])
  }

  @Test("/to takes the server's spelling of the name", arguments: [("/to @bob", ChatTarget.user("Bob")), ("/to #GENERAL", .group("general"))])
  func serverSpelling(line: String, target: ChatTarget) async {
    var runner = makeRunner(FakeChatCalls())
    _ = await runner.run(line)
    #expect(output.lines == ["* talking to \(target)"])
    #expect(output.targets == [target])
    #expect(runner.target == target)
  }

  @Test(
    "/to a user or group that does not exist is refused at once, naming it, and the old target stays",
    arguments: [
      ("/to @nobody", "! cannot talk to @nobody: no connected user 'nobody' (still talking to #general)."),
      ("/to #nosuch", "! cannot talk to #nosuch: no group 'nosuch' (still talking to #general)."),
      ("/to #alice", "! cannot talk to #alice: no group 'alice' (still talking to #general)."),
      ("/to @books", "! cannot talk to @books: no connected user 'books' (still talking to #general)."),
    ])
  func missingTarget(line: String, refusal: String) async {
    let calls = FakeChatCalls()
    var runner = makeRunner(calls)
    for line in ["/to #general", line, "still here"] { _ = await runner.run(line) }
    #expect(output.lines == ["* talking to #general", refusal])
    #expect(output.targets == [.group("general")])
    #expect(calls.made == ["list", "list", "send #general still here"])
  }

  @Test("with no target yet, a missing one is refused without mentioning one")
  func missingFirstTarget() async {
    var runner = makeRunner(FakeChatCalls())
    _ = await runner.run("/to @nobody")
    #expect(output.lines == ["! cannot talk to @nobody: no connected user 'nobody'."])
    #expect(runner.target == nil)
  }

  @Test("a /to whose check fails keeps the old target and says why")
  func checkFails() async {
    let calls = FakeChatCalls()
    var runner = makeRunner(calls)
    _ = await runner.run("/to #general")
    calls.fail(with: RPCError(code: .unavailable, message: "the server is shutting down."))
    _ = await runner.run("/to @bob")
    #expect(output.lines == ["* talking to #general", "! UNAVAILABLE: the server is shutting down."])
    #expect(runner.target == .group("general"))
  }

  @Test("leaving the group one talks to drops it as the target", arguments: ["/leave general", "/leave #GENERAL"])
  func leaveTarget(line: String) async {
    let calls = FakeChatCalls()
    var runner = makeRunner(calls)
    for line in ["/to #general", line, "hello?"] { _ = await runner.run(line) }
    #expect(
      output.lines == [
        "* talking to #general",
        "* alice left #general",
        "* no longer talking to #general",
        "! no channel to send to: /to #<group> or /to @<user> first, or /help.",
      ])
    #expect(output.targets == [.group("general"), nil])
    #expect(runner.target == nil)
  }

  @Test("leaving another group keeps the target")
  func leaveOther() async {
    var runner = makeRunner(FakeChatCalls())
    for line in ["/to #general", "/leave books"] { _ = await runner.run(line) }
    #expect(output.lines == ["* talking to #general", "* alice left #books"])
    #expect(runner.target == .group("general"))
  }

  @Test("the last member's leave says that the group was deleted", arguments: ["/leave general", "/leave #General"])
  func leaveDeletes(line: String) async {
    var runner = makeRunner(FakeChatCalls(lastMemberOf: ["general"]))
    _ = await runner.run(line)
    let shown = line.hasSuffix("#General") ? "General" : "general"
    #expect(output.lines == ["* alice left #\(shown)", "* #\(shown) was deleted (its last member left)"])
  }

  @Test("a failed leave changes nothing")
  func leaveFails() async {
    let calls = FakeChatCalls()
    var runner = makeRunner(calls)
    _ = await runner.run("/to #general")
    calls.fail(with: RPCError(code: .failedPrecondition, message: "user 'alice' is not a member of group 'general', so cannot leave it."))
    _ = await runner.run("/leave general")
    #expect(
      output.lines == [
        "* talking to #general",
        "! FAILED_PRECONDITION: user 'alice' is not a member of group 'general', so cannot leave it.",
      ])
    #expect(runner.target == .group("general"))
  }

  @Test(
    "UNAUTHENTICATED in username mode comes with a hint about --auth session",
    arguments: [
      (CallAuthorization.username, RPCError.Code.unauthenticated, true),
      (.session, .unauthenticated, false),
      (.username, .notFound, false),
    ])
  func authHint(authorization: CallAuthorization, code: RPCError.Code, hinted: Bool) async {
    let calls = FakeChatCalls()
    var runner = makeRunner(calls, authorization: authorization)
    calls.fail(with: RPCError(code: code, message: "refused."))
    _ = await runner.run("/join general")
    let hint = "! hint: if the server runs with --auth session, start chat-client with --auth session"
    #expect(output.lines == ["! \(code.canonicalName): refused."] + (hinted ? [hint] : []))
  }

  @Test("/quit ends the session; blank lines and /help do not")
  func quit() async {
    var runner = makeRunner(FakeChatCalls())
    #expect(await runner.run("") == .goOn)
    #expect(await runner.run("/help") == .goOn)
    #expect(output.lines == ClientCommand.helpText)
    #expect(await runner.run("/quit") == .quit)
  }
}
