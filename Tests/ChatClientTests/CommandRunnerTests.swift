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
  }
  private let state: Mutex<State>

  init(users: [String] = ["alice", "Bob"], groups: [String] = ["general", "books"], lastMemberOf: Set<String> = []) {
    state = Mutex(State(users: users, groups: groups, lastMemberOf: lastMemberOf))
  }

  /// Every call made, as `send #general hi`, `leave general`, `list`.
  var made: [String] { state.withLock { $0.made } }

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

  @Test("plain lines go to the /to target")
  func plainLines() async {
    let calls = FakeChatCalls()
    var runner = makeRunner(calls)
    for line in ["/to #general", "hi all", "/to"] { _ = await runner.run(line) }
    #expect(output.lines == ["* talking to #general", "* talking to #general"])
    #expect(calls.made == ["send #general hi all"])
    #expect(runner.target == .group("general"))
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
