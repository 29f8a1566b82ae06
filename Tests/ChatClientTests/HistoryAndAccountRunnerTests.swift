import ChatAPI
import ChatClientCore
import Foundation
import GRPCCore
import Synchronization
import Testing

/// Passwords from a list, sign-ins and sign-outs recorded.
final class FakeAccountSession: AccountSession {
  private struct State {
    var username: String? = "alice"
    var isAccount = false
    var passwords: [String?]
    var asked: [String] = []
    var signedIn: [AccountToken] = []
    var signedOut = 0
  }
  private let state: Mutex<State>

  init(passwords: [String?] = ["a good password"], isAccount: Bool = false) {
    state = Mutex(State(isAccount: isAccount, passwords: passwords))
  }

  var currentUsername: String? { state.withLock { $0.username } }
  var isAccount: Bool { state.withLock { $0.isAccount } }
  var asked: [String] { state.withLock { $0.asked } }
  var signedIn: [AccountToken] { state.withLock { $0.signedIn } }
  var signedOutCount: Int { state.withLock { $0.signedOut } }

  func password(for username: String, confirm: Bool) async throws -> String? {
    state.withLock { state in
      state.asked.append("\(username)\(confirm ? " twice" : "")")
      return state.passwords.isEmpty ? nil : state.passwords.removeFirst()
    }
  }

  func signedIn(_ token: AccountToken) async throws {
    state.withLock { state in
      state.signedIn.append(token)
      state.username = token.username
      state.isAccount = true
    }
  }

  func signedOut() async throws {
    state.withLock { $0.signedOut += 1 }
  }
}

func logged(_ seq: UInt64, _ text: String, in group: String = "general", from sender: String = "bob") -> Chat_V1_Event {
  .with {
    $0.seq = seq
    $0.time = .init(seconds: 1_700_000_000 + Int64(seq), nanos: 0)
    $0.message = .with {
      $0.id = seq
      $0.sender = sender
      $0.channel = .with {
        $0.type = .group
        $0.name = group
      }
      $0.text = text
    }
  }
}

func joined(_ seq: UInt64, _ user: String, _ group: String = "general") -> Chat_V1_Event {
  .with {
    $0.seq = seq
    $0.memberJoined = .with {
      $0.username = user
      $0.group = group
    }
  }
}

@Suite("History paging")
struct HistoryPagerTests {
  let calls = FakeChatCalls()

  init() {
    calls.setLog((1...250).map { logged(UInt64($0), "m\($0)") })
  }

  @Test("the last n come oldest first, and say whether older ones exist")
  func lastPage() async throws {
    let (events, hasMore) = try await HistoryPager(calls: calls).last(20, of: .group("general"))
    #expect(events.map(\.seq) == Array(231...250))
    #expect(hasMore)
    #expect(calls.made == ["history #general before 0 limit 20"])
  }

  @Test("more than a page is read a page at a time, each before the oldest so far")
  func severalPages() async throws {
    let (events, hasMore) = try await HistoryPager(calls: calls).last(230, of: .group("general"))
    #expect(events.map(\.seq) == Array(21...250))
    #expect(hasMore)
    #expect(calls.made == ["history #general before 0 limit 100", "history #general before 151 limit 100", "history #general before 51 limit 30"])
  }

  @Test("asking for more than there is gives everything, with nothing older")
  func everything() async throws {
    let (events, hasMore) = try await HistoryPager(calls: calls).last(1000, of: .group("general"))
    #expect(events.count == 250)
    #expect(events.first?.seq == 1)
    #expect(!hasMore)
  }
}

@Suite("History and accounts in a session")
struct HistoryAndAccountRunnerTests {
  let output = RecordingOutput()
  let calls = FakeChatCalls()

  func makeRunner(_ accounts: FakeAccountSession? = FakeAccountSession()) -> CommandRunner {
    CommandRunner(
      calls: calls, output: output, formatter: EventFormatter(timeZone: TimeZone(identifier: "UTC")!), username: "alice",
      authorization: .username, accounts: accounts)
  }

  @Test("/history prints the /to channel's last events oldest first, under a line that says so")
  func history() async {
    calls.setLog([logged(3, "one"), logged(5, "two"), logged(9, "three")])
    var runner = makeRunner()
    for line in ["/to #general", "/history 2"] { _ = await runner.run(line) }
    #expect(
      output.lines == [
        "* talking to #general",
        "* history of #general: 2 events, oldest first; older ones: /history 4",
        "[#general] bob: two",
        "[#general] bob: three",
      ])
  }

  @Test("/history with nothing logged says so; without a /to target it says what to do")
  func emptyHistory() async {
    var runner = makeRunner()
    _ = await runner.run("/history")
    _ = await runner.run("/to #general")
    _ = await runner.run("/history")
    #expect(
      output.lines == [
        "! no channel for /history: /to #<group> or /to @<user> first.",
        "* talking to #general",
        "* no history in #general",
      ])
  }

  @Test("/join shows what was said before the join; the join and what follows come on the stream")
  func recentHistoryOnJoin() async {
    calls.setLog([logged(1, "before"), joined(2, "carol"), logged(3, "hello carol"), joined(4, "Alice"), logged(5, "hi alice")])
    var runner = makeRunner()
    _ = await runner.run("/join general")
    #expect(calls.made == ["join general", "history #general before 0 limit 20"])
    #expect(output.lines == ["* earlier in #general:", "[#general] bob: before", "* carol joined #general", "[#general] bob: hello carol"])
  }

  @Test("/join on a server without History shows nothing more; another failure is one line")
  func joinWithoutHistory() async {
    var runner = makeRunner()
    calls.failHistory(with: RPCError(code: .unimplemented, message: "no History here."))
    _ = await runner.run("/join general")
    #expect(output.lines.isEmpty)
    calls.failHistory(with: RPCError(code: .unavailable, message: "down."))
    _ = await runner.run("/join books")
    #expect(output.lines == ["! no history of #books: UNAVAILABLE: down."])
  }

  @Test("/signup asks for the password twice, signs up, and hands the token to the session")
  func signUp() async {
    let accounts = FakeAccountSession()
    var runner = makeRunner(accounts)
    #expect(await runner.run("/signup Alice") == .goOn)
    #expect(accounts.asked == ["Alice twice"])
    #expect(calls.made == ["signup Alice"])
    #expect(accounts.signedIn.map(\.username) == ["Alice"])
    #expect(output.lines.isEmpty)
  }

  @Test("/signin asks once and signs in")
  func signIn() async {
    let accounts = FakeAccountSession()
    var runner = makeRunner(accounts)
    _ = await runner.run("/signin bob")
    #expect(accounts.asked == ["bob"])
    #expect(calls.made == ["signin bob"])
    #expect(accounts.signedIn.map(\.username) == ["bob"])
  }

  @Test(
    "a password out of 8 to 256 bytes, or none, is refused before any call",
    arguments: [
      ("short", "! passwords are 8 to 256 bytes; not signed in."),
      (String(repeating: "x", count: 257), "! passwords are 8 to 256 bytes; not signed in."),
      (nil, "! no password given; not signed in."),
    ] as [(String?, String)])
  func badPassword(password: String?, refusal: String) async {
    let accounts = FakeAccountSession(passwords: [password])
    var runner = makeRunner(accounts)
    _ = await runner.run("/signin bob")
    #expect(calls.made.isEmpty)
    #expect(accounts.signedIn.isEmpty)
    #expect(output.lines == [refusal])
  }

  @Test("a failed sign-in is one line and the session stays as it was")
  func failedSignIn() async {
    let accounts = FakeAccountSession()
    var runner = makeRunner(accounts)
    calls.fail(with: RPCError(code: .unauthenticated, message: "unknown name or wrong password."))
    _ = await runner.run("/signin bob")
    #expect(output.lines == ["! UNAUTHENTICATED: unknown name or wrong password."])
    #expect(accounts.signedIn.isEmpty)
  }

  @Test("a sign-up refused because the name is a connected guest says how to sign up")
  func signUpTaken() async {
    var runner = makeRunner()
    calls.fail(with: RPCError(code: .alreadyExists, message: "'alice' is taken."))
    _ = await runner.run("/signup alice")
    #expect(
      output.lines == [
        "! ALREADY_EXISTS: 'alice' is taken.",
        "! hint: a name in use by a guest, this session among them, cannot be signed up; start chat-client without a name to sign up as alice",
      ])
  }

  @Test("/signout revokes the token, tells the session, and ends it")
  func signOut() async {
    let accounts = FakeAccountSession(isAccount: true)
    var runner = makeRunner(accounts)
    #expect(await runner.run("/signout") == .quit)
    #expect(calls.made == ["signout"])
    #expect(accounts.signedOutCount == 1)
  }

  @Test("/signout in a guest session changes nothing")
  func guestSignOut() async {
    let accounts = FakeAccountSession(isAccount: false)
    var runner = makeRunner(accounts)
    #expect(await runner.run("/signout") == .goOn)
    #expect(calls.made.isEmpty)
    #expect(output.lines == ["! not signed in: this is a guest session; /quit ends it."])
  }

  @Test("a failed /signout keeps the session and the token")
  func failedSignOut() async {
    let accounts = FakeAccountSession(isAccount: true)
    var runner = makeRunner(accounts)
    calls.fail(with: RPCError(code: .unavailable, message: "down."))
    #expect(await runner.run("/signout") == .goOn)
    #expect(accounts.signedOutCount == 0)
  }
}
