import ChatAPI
import Foundation
import InMemoryLogging
import Logging
import Testing

@testable import ChatConsole
@testable import ChatCore
@testable import ChatGRPC
@testable import ChatServer

/// A registry with users and groups, and a console over it whose clock reads
/// exactly 1h02m05.5s after the registry started.
struct ConsoleHarness {
  let h = RegistryHarness()
  let console: OperatorConsole
  let alice: Session
  let bob: Session
  let carol: Session

  /// alice: Lounge, dev; Bob: Lounge; carol: no group.
  init() throws {
    var handler = h.logs
    handler.logLevel = .debug
    let started = h.registry.counts().startedAt
    console = OperatorConsole(registry: h.registry, logger: Logger(label: "console") { _ in handler }) {
      started.addingTimeInterval(3725.5)
    }
    alice = try h.connect("alice")
    bob = try h.connect("Bob")
    carol = try h.connect("carol")
    try h.registry.createGroup("Lounge", by: "alice")
    try h.registry.joinGroup("lounge", by: "bob")
    try h.registry.createGroup("dev", by: "alice")
    for session in [alice, bob, carol] { _ = try events(session) }
  }

  var registry: ChatRegistry { h.registry }

  func run(_ line: String) -> ConsoleReply { console.execute(line: line) }

  /// The console's log entries with `message`.
  func logged(_ message: String) -> [InMemoryLogHandler.Entry] {
    h.logs.entries.filter { $0.message.description == message }
  }
}

@Suite("Operator console commands")
struct ConsoleInterpreterTests {
  @Test("help lists every command with its usage and help, in table order")
  func helpList() throws {
    let c = try ConsoleHarness()
    let reply = c.run("help")
    #expect(reply.lines.count == 10)
    #expect(reply.lines.map { String($0.prefix { $0 != " " }) }
      == ["users", "groups", "members", "accounts", "sessions", "kick", "broadcast", "stats", "help", "shutdown"])
    #expect(reply.lines.contains("kick <user> [reason]  end every session of a user (PERMISSION_DENIED); they leave every group"))
    #expect(reply.lines.contains { $0.hasPrefix("members <group>       list a group's members") })
    #expect(reply.action == .none)
  }

  @Test(
    "help <command> shows the command's usage, whatever the case",
    arguments: [
      ("help kick", "usage: kick <user> [reason]"), ("HELP Broadcast", "usage: broadcast <text>"),
      ("help members", "usage: members <group>"), ("help help", "usage: help [command]"),
      ("Help USERS", "usage: users"), ("help groups", "usage: groups"), ("help stats", "usage: stats"),
      ("help shutdown", "usage: shutdown"),
    ])
  func helpCommand(line: String, usage: String) throws {
    let reply = try ConsoleHarness().run(line)
    #expect(reply.lines.count == 2)
    #expect(reply.lines.first == usage)
  }

  @Test("users lists each guest with connection time, sessions and group count, then the counts")
  func users() throws {
    let c = try ConsoleHarness()
    let reply = c.run("users")
    #expect(reply.lines.count == 4)
    let pattern = /(\S+) +guest  connected (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \(1h02m05s ago\)  1 session  (\d) groups?/
    let rows = reply.lines.dropLast().compactMap { try? pattern.wholeMatch(in: $0) }
    #expect(rows.map { String($0.1) } == ["alice", "Bob", "carol"])
    #expect(rows.map { String($0.3) } == ["2", "1", "0"])
    #expect(reply.lines[0].hasPrefix("alice  guest  connected"))
    #expect(reply.lines.last == "3 users: 3 guests, 0 accounts")
  }

  @Test("users, groups and stats work on an empty registry")
  func empty() {
    let h = RegistryHarness()
    let console = OperatorConsole(registry: h.registry, logger: Logger(label: "test"))
    #expect(console.execute(line: "users").lines == ["0 users"])
    #expect(console.execute(line: "groups").lines == ["0 groups"])
    #expect(console.execute(line: "stats").lines.count == 6)
  }

  @Test("groups lists each group with its member count, then the count")
  func groups() throws {
    let reply = try ConsoleHarness().run("groups")
    #expect(reply.lines == ["dev     1 member", "Lounge  2 members", "2 groups"])
  }

  @Test("members prints one member per line with its kind and online state, the group named in any case",
    arguments: ["lounge", "LOUNGE", "Lounge"])
  func members(group: String) throws {
    #expect(
      try ConsoleHarness().run("members \(group)").lines
        == ["alice  guest    online", "Bob    guest    online", "2 members of Lounge, 2 online"])
  }

  @Test("kick ends the session as kicked with the whole reason; the others see MemberLeft KICKED")
  func kick() throws {
    let c = try ConsoleHarness()
    let reply = c.run("kick BOB   spam and  eggs ")
    #expect(reply.lines == ["kicked Bob: left 1 group (Lounge), deleted no empty groups"])
    #expect(ending(c.bob) == .kicked(reason: "spam and  eggs"))
    let left = try events(c.alice).map(\.memberLeft)
    #expect(left == [.with { $0.group = "Lounge"; $0.username = "Bob"; $0.reason = .kicked }])
    #expect(c.registry.snapshot().users.map(\.name) == ["alice", "carol"])
    let entry = try #require(c.logged("console kick").first)
    #expect(entry.level == .notice)
    #expect(entry.metadata["user"] == "Bob")
    #expect(entry.metadata["reason"] == "spam and  eggs")
    #expect(entry.metadata["groups_left"] == "1")
    #expect(entry.metadata["groups_deleted"] == "0")
  }

  @Test("kick without a reason; groups the user leaves empty are deleted")
  func kickDeletes() throws {
    let c = try ConsoleHarness()
    let reply = c.run("kick alice")
    #expect(reply.lines == ["kicked alice: left 2 groups (dev, Lounge), deleted 1 empty group (dev)"])
    #expect(ending(c.alice) == .kicked(reason: ""))
    #expect(c.registry.snapshot().groups.map(\.name) == ["Lounge"])
    #expect(c.logged("console kick").first?.metadata["groups_deleted"] == "1")
    #expect(c.run("kick carol").lines == ["kicked carol: left no groups, deleted no empty groups"])
  }

  @Test("broadcast sends the text, inner spaces kept, to every session and says how many")
  func broadcast() throws {
    let c = try ConsoleHarness()
    let reply = c.run("broadcast  maintenance at  noon ")
    #expect(reply.lines == ["broadcast reached 3 sessions"])
    for session in [c.alice, c.bob, c.carol] {
      #expect(try events(session).map(\.notice.text) == ["maintenance at  noon"])
    }
    let entry = try #require(c.logged("console broadcast").first)
    #expect(entry.level == .notice)
    #expect(entry.metadata["sessions"] == "3")
    #expect(entry.metadata["bytes"] == "20")
    // The text itself stays out of the log.
    #expect(!c.h.logs.entries.contains { "\($0)".contains("maintenance") })
  }

  @Test("stats says what each figure counts: uptime, open sessions, groups, messages, events, sessions ended")
  func stats() throws {
    let c = try ConsoleHarness()
    try c.registry.send("hi", to: RegistryHarness.group("lounge"), from: "alice")
    _ = c.run("kick carol")
    let reply = c.run("stats")
    let started = c.registry.counts().startedAt.formatted(.iso8601)
    #expect(reply.lines == [
      "uptime: 1h02m05s (since \(started))",
      "sessions: 2 open",
      "groups: 2",
      "messages accepted: 1 (SendMessage calls that returned OK)",
      // Nothing is written without Connect streams; queued: 3 Welcome,
      // 1 + 2 + 1 MemberJoined, 2 Message.
      "events: 9 queued for sessions, 0 written to streams in 0 writes (the rest wait, or ended with their session)",
      "sessions ended: 0 by the client or its connection, 1 kicked, 0 too slow to read, 0 at shutdown",
    ])
  }

  @Test("shutdown asks for a graceful shutdown and is logged")
  func shutdown() throws {
    let c = try ConsoleHarness()
    let reply = c.run("SHUTDOWN")
    #expect(reply == ConsoleReply(lines: ["shutting down"], action: .shutdown))
    #expect(c.logged("console shutdown").first?.level == .notice)
    // The console only asks: the registry is shut down by the application.
    #expect(c.registry.snapshot().users.count == 3)
  }

  @Test("blank lines do nothing", arguments: ["", "   ", "\t"])
  func blank(line: String) throws {
    #expect(try ConsoleHarness().run(line) == ConsoleReply(lines: []))
  }

  @Test(
    "a wrong line prints one error line saying what is wrong and how to do it right; nothing changes",
    arguments: [
      WrongLine("frobnicate", "error: unknown command 'frobnicate': type 'help' to list the commands."),
      WrongLine("users now", "error: users takes no arguments but got 'now': usage: users"),
      WrongLine("groups all", "error: groups takes no arguments but got 'all': usage: groups"),
      WrongLine("stats -v", "error: stats takes no arguments but got '-v': usage: stats"),
      WrongLine("shutdown now", "error: shutdown takes no arguments but got 'now': usage: shutdown"),
      WrongLine("members", "error: members needs <group>: usage: members <group>"),
      WrongLine("members lounge dev", "error: members takes one argument but got 'lounge dev': usage: members <group>"),
      WrongLine("members nowhere", "error: no group 'nowhere': 'groups' lists the groups."),
      WrongLine("members bad!", "error: invalid group name 'bad!': use 1 to 32 characters from A-Z a-z 0-9 _ - ."),
      WrongLine("kick", "error: kick needs <user>: usage: kick <user> [reason]"),
      WrongLine("kick ghost", "error: no user or account 'ghost': 'users' and 'accounts' list them."),
      WrongLine("kick bad! spam", "error: invalid username 'bad!': use 1 to 32 characters from A-Z a-z 0-9 _ - ."),
      WrongLine(
        "kick bob a\u{7}b",
        "error: invalid reason (text has control character U+0007 at character 1): give at most 4096 bytes without control characters."
      ),
      WrongLine("broadcast", "error: broadcast needs <text>: usage: broadcast <text>"),
      WrongLine(
        "broadcast " + String(repeating: "x", count: 4097),
        "error: cannot broadcast: text is 4097 bytes, more than the 4096-byte limit: send 1 to 4096 bytes without control characters."
      ),
      WrongLine(
        "broadcast bell\u{7}",
        "error: cannot broadcast: text has control character U+0007 at character 4: send 1 to 4096 bytes without control characters."
      ),
      WrongLine("help nope", "error: no command 'nope': type 'help' to list the commands."),
      WrongLine("help users now", "error: help takes one argument but got 'users now': usage: help [command]"),
    ])
  func errors(wrong: WrongLine) throws {
    let (line, error) = (wrong.line, wrong.error)
    let c = try ConsoleHarness()
    let reply = c.run(line)
    #expect(reply == ConsoleReply(lines: [error]))
    #expect(reply.isError)
    let entry = try #require(c.logged("console command rejected").first)
    #expect(entry.level == .debug)
    #expect(entry.metadata["error"] == .string(error))
    #expect(c.registry.snapshot().users.count == 3)
    for session in [c.alice, c.bob, c.carol] { #expect(try events(session).isEmpty) }
  }

  @Test(
    "completion offers command names, then live user or group names, case-insensitively",
    arguments: [
      ("", ["users", "groups", "members", "accounts", "sessions", "kick", "broadcast", "stats", "help", "shutdown"]),
      ("s", ["sessions", "stats", "shutdown"]), ("KI", ["kick"]), ("  gr", ["groups"]),
      ("kick ", ["alice", "Bob", "carol"]), ("kick b", ["Bob"]), ("KICK B", ["Bob"]),
      ("members ", ["dev", "Lounge"]), ("members l", ["Lounge"]),
      ("help sh", ["shutdown"]), ("help ", ["users", "groups", "members", "accounts", "sessions", "kick", "broadcast", "stats", "help", "shutdown"]),
      ("kick bob sp", []), ("broadcast h", []), ("users ", []), ("members lounge ", []), ("nope ", []), ("x", []),
    ] as [(String, [String])])
  func completions(line: String, expected: [String]) throws {
    #expect(try ConsoleHarness().console.completions(for: line) == expected)
  }
}

/// A wrong console line and the error it must print; long lines are shown
/// shortened in test names.
struct WrongLine: Sendable, CustomTestStringConvertible {
  let line: String
  let error: String

  init(_ line: String, _ error: String) {
    self.line = line
    self.error = error
  }

  var testDescription: String {
    line.utf8.count <= 40 ? line.debugDescription : "\(line.prefix(20).debugDescription)… (\(line.utf8.count) bytes)"
  }
}
