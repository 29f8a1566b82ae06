import ChatAPI
import Foundation
import GRPCCore
import Testing

/// The real `chat-server` with a pseudo-terminal as stdin, stdout and
/// stderr: the readline console, as an operator sees it.
@Suite("Operator console in a terminal")
struct ConsoleTerminalTests {
  /// A plain terminal and no inputrc, so the bytes on the screen are predictable.
  static func environment(home: URL) -> [String: String] {
    ["TERM": "dumb", "INPUTRC": "/dev/null", "HOME": home.path]
  }

  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test("a log line arriving while a command is half typed leaves the command intact and runnable")
  func logLineAbovePrompt() async throws {
    let home = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: home) }
    let server = try await ServerProcess.startInTerminal(environment: Self.environment(home: home))
    let screen = server.stdout
    try await screen.waitFor("chat> ")

    try server.type("user")
    try await screen.waitFor("chat> user")
    // A client connects: the log line appears above the prompt, and the
    // prompt and the half-typed command below it.
    let alice = try await TestUser.connect("alice", port: server.port)
    let shown = try await screen.waitUntil("the log line above the prompt") { text in
      renderedScreen(text).last == "chat> user" && text.contains(" info user connected ")
    }
    let lines = renderedScreen(shown)
    #expect(lines.dropLast().last?.contains(" info user connected ") == true)
    #expect(lines.dropLast().last?.hasSuffix(" user=alice") == true)

    // The cursor is back at the end of the line: one more letter makes `users`.
    try server.type("s\r")
    let replied = try await screen.waitUntil("the users reply, then the prompt") {
      renderedScreen($0).suffix(2) == ["1 user: 1 guest, 0 accounts", "chat>"]
    }
    let reply = Array(renderedScreen(replied).suffix(4))
    #expect(reply[0] == "chat> users")
    #expect(reply[1].hasPrefix("alice  guest  connected "))
    #expect(reply[2] == "1 user: 1 guest, 0 accounts")

    alice.close()
    try server.type("shutdown\r")
    #expect(try await server.exitStatus() == 0)
  }

  @Test("tab completes command and user names; history is kept across runs in a file only its owner reads")
  func completionAndHistory() async throws {
    let home = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: home) }
    let history = home.appendingPathComponent("history").path
    do {
      let server = try await ServerProcess.startInTerminal(
        ["--history-file", history], environment: Self.environment(home: home))
      try await server.stdout.waitFor("chat> ")
      let alice = try await TestUser.connect("alice", port: server.port)
      try await server.stdout.waitFor(" info user connected ")

      try server.type("ki\t")
      try await server.stdout.waitFor("kick ")
      try server.type("al\t")
      try await server.stdout.waitFor("kick alice ")
      try server.type("bye\r")
      try await server.stdout.waitFor("kicked alice: left no groups")
      let end = await alice.streamEnd()
      #expect(end?.code == .permissionDenied)
      #expect(end?.message.contains("bye") == true)

      try server.type("shutdown\r")
      #expect(try await server.exitStatus() == 0)
    }

    let attributes = try FileManager.default.attributesOfItem(atPath: history)
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    #expect(try String(contentsOfFile: history, encoding: .utf8) == "kick alice bye\nshutdown\n")

    // The next run starts with that history: Ctrl-P brings back `shutdown`.
    let server = try await ServerProcess.startInTerminal(
      ["--history-file", history], environment: Self.environment(home: home))
    try await server.stdout.waitFor("chat> ")
    try server.type("\u{10}")
    try await server.stdout.waitFor("chat> shutdown")
    try server.type("\r")
    #expect(try await server.exitStatus() == 0)
  }
}
