import Foundation
import Testing

/// The terminal console's history as an operator uses it: Up and Ctrl-R
/// bring back earlier commands, typed in this run or in an earlier one.
@Suite("Operator console history in a terminal")
struct ConsoleHistoryTests {
  static let up = "\u{1B}[A"
  static let reverseSearch = "\u{12}"

  @Test("Up recalls the commands typed earlier in the run, newest first")
  func upWithinRun() async throws {
    let home = try ConsoleTerminalTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: home) }
    let server = try await ServerProcess.startInTerminal(
      ["--history-file", home.appendingPathComponent("history").path],
      environment: ConsoleTerminalTests.environment(home: home))
    try await server.stdout.waitFor("chat> ")
    try await server.run("users", until: "0 users")
    try await server.run("groups", until: "0 groups")
    try await server.run("stats", until: "uptime: ", isPrefix: true)

    try server.type(Self.up)
    try await server.stdout.waitUntil("stats recalled") { renderedScreen($0).last == "chat> stats" }
    try server.type("\r")
    try await server.stdout.waitUntil("stats run twice") { $0.lineCount(hasPrefix: "uptime: ") == 2 }

    // The repeated stats is kept once: two steps back is groups.
    try server.type(Self.up + Self.up + "\r")
    try await server.stdout.waitUntil("groups run twice") { $0.lineCount(equalTo: "0 groups") == 2 }

    try server.type("shutdown\r")
    #expect(try await server.exitStatus() == 0)
  }

  @Test("Ctrl-R finds an earlier command by what it contains")
  func reverseSearchWithinRun() async throws {
    let home = try ConsoleTerminalTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: home) }
    let server = try await ServerProcess.startInTerminal(
      ["--history-file", home.appendingPathComponent("history").path],
      environment: ConsoleTerminalTests.environment(home: home))
    try await server.stdout.waitFor("chat> ")
    try await server.run("users", until: "0 users")
    try await server.run("groups", until: "0 groups")
    try await server.run("stats", until: "uptime: ", isPrefix: true)

    try server.type(Self.reverseSearch + "rou")
    try await server.stdout.waitUntil("the search finding groups") {
      renderedScreen($0).last == "(reverse-i-search)`rou': groups"
    }
    try server.type("\r")
    try await server.stdout.waitUntil("groups run twice") { $0.lineCount(equalTo: "0 groups") == 2 }

    try server.type("shutdown\r")
    #expect(try await server.exitStatus() == 0)
  }

  @Test("after a restart with the same history file, Up and Ctrl-R reach the earlier run's commands")
  func acrossRuns() async throws {
    let home = try ConsoleTerminalTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: home) }
    let history = home.appendingPathComponent("history").path
    do {
      let server = try await ServerProcess.startInTerminal(
        ["--history-file", history], environment: ConsoleTerminalTests.environment(home: home))
      try await server.stdout.waitFor("chat> ")
      try await server.run("groups", until: "0 groups")
      try await server.run("users", until: "0 users")
      server.signal(SIGTERM)
      #expect(try await server.exitStatus() == 0)
    }

    let server = try await ServerProcess.startInTerminal(
      ["--history-file", history], environment: ConsoleTerminalTests.environment(home: home))
    try await server.stdout.waitFor("chat> ")
    // A command of this run first, so that recall crosses from this run's history into the file's.
    try await server.run("stats", until: "uptime: ", isPrefix: true)
    try server.type(Self.up + Self.up)
    try await server.stdout.waitUntil("users recalled") { renderedScreen($0).last == "chat> users" }
    try server.type("\r")
    try await server.stdout.waitUntil("users run") { $0.lineCount(equalTo: "0 users") == 1 }

    try server.type(Self.reverseSearch + "rou")
    try await server.stdout.waitUntil("the search finding groups") {
      renderedScreen($0).last == "(reverse-i-search)`rou': groups"
    }
    try server.type("\r")
    try await server.stdout.waitUntil("groups run") { $0.lineCount(equalTo: "0 groups") == 1 }

    try server.type("shutdown\r")
    #expect(try await server.exitStatus() == 0)
    #expect(
      try String(contentsOfFile: history, encoding: .utf8) == "groups\nusers\nstats\nusers\ngroups\nshutdown\n")
  }
}

extension ServerProcess {
  /// Types `command` and Enter, and waits for a reply line that is (or starts with) `reply`.
  func run(_ command: String, until reply: String, isPrefix: Bool = false) async throws {
    let before = stdout.text.lineCount(matching: reply, isPrefix: isPrefix)
    try type(command + "\r")
    try await stdout.waitUntil("the reply to \(command)") {
      $0.lineCount(matching: reply, isPrefix: isPrefix) > before
    }
  }
}

extension String {
  /// How many lines of the rendered screen are `line`.
  func lineCount(equalTo line: String) -> Int { lineCount(matching: line, isPrefix: false) }

  /// How many lines of the rendered screen start with `prefix`.
  func lineCount(hasPrefix prefix: String) -> Int { lineCount(matching: prefix, isPrefix: true) }

  func lineCount(matching text: String, isPrefix: Bool) -> Int {
    renderedScreen(self).count { isPrefix ? $0.hasPrefix(text) : $0 == text }
  }
}
