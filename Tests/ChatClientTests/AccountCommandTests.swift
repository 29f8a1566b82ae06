import ChatClientCore
import Testing

@Suite("Parsing the account and history commands")
struct AccountCommandTests {
  @Test(
    "lines parse into commands",
    arguments: [
      ("/signup alice", .signUp(name: "alice")),
      ("/signup @Alice ", .signUp(name: "Alice")),
      ("/signin bob", .signIn(name: "bob")),
      ("/signin  a-Z_0.9", .signIn(name: "a-Z_0.9")),
      ("/signout", .signOut),
      ("/history", .history(count: 20)),
      ("/history 5", .history(count: 5)),
      ("/history 1000", .history(count: 1000)),
    ] as [(String, ClientCommand)])
  func parses(line: String, command: ClientCommand) throws {
    #expect(try ClientCommand.parse(line) == command)
  }

  @Test(
    "malformed commands say what to type",
    arguments: [
      ("/signup", "usage: /signup <name>"),
      ("/signin", "usage: /signin <name>"),
      ("/signup alice secret", "usage: /signup <name>"),
      ("/signin bad!", "invalid username 'bad!': use 1 to 32 characters from A-Z a-z 0-9 _ - ."),
      ("/signout now", "usage: /signout"),
      ("/history 0", "usage: /history [n], n from 1 to 1000."),
      ("/history 1001", "usage: /history [n], n from 1 to 1000."),
      ("/history ten", "usage: /history [n], n from 1 to 1000."),
      ("/history -3", "usage: /history [n], n from 1 to 1000."),
    ])
  func malformed(line: String, message: String) {
    #expect(throws: CommandError(message)) { try ClientCommand.parse(line) }
  }

  @Test("/help lists the new commands, and Tab completes them")
  func listed() {
    for name in ["/signup", "/signin", "/signout", "/history"] {
      #expect(ClientCommand.names.contains(name))
      #expect(ClientCommand.helpText.contains { $0.hasPrefix("  \(name)") })
      #expect(Completions().candidates(for: String(name.prefix(5)), after: "").contains(name))
    }
  }
}
