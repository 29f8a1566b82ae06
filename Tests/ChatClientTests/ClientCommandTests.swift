import ChatAPI
import ChatClientCore
import Testing

@Suite("Command parsing")
struct ClientCommandTests {
  @Test(
    "lines parse into commands",
    arguments: [
      ("/create general", .create(group: "general")),
      ("/create #general", .create(group: "general")),
      ("/join   Lounge  ", .join(group: "Lounge")),
      (" /join x", .text(" /join x")),
      ("/leave #g", .leave(group: "g")),
      ("/list", .list),
      ("/members", .members(group: nil)),
      ("/members #general", .members(group: "general")),
      ("/members  Lounge ", .members(group: "Lounge")),
      ("/help", .help),
      ("/quit", .quit),
      ("/msg bob hi there", .send(text: "hi there", to: .user("bob"))),
      ("/msg @bob  two  spaces stay", .send(text: "two  spaces stay", to: .user("bob"))),
      ("/say general hello", .send(text: "hello", to: .group("general"))),
      ("/say #general hello", .send(text: "hello", to: .group("general"))),
      ("/to #general", .setTarget(.group("general"))),
      ("/to @bob", .setTarget(.user("bob"))),
      ("/to", .showTarget),
      ("hello world", .text("hello world")),
      ("  leading spaces are kept", .text("  leading spaces are kept")),
      ("//shrug", .text("/shrug")),
      ("# not a command", .text("# not a command")),
      ("/leave a-Z_0.9", .leave(group: "a-Z_0.9")),
      ("/join \(String(repeating: "x", count: 32))", .join(group: String(repeating: "x", count: 32))),
    ] as [(String, ClientCommand)])
  func parses(line: String, command: ClientCommand) throws {
    #expect(try ClientCommand.parse(line) == command)
  }

  @Test("blank lines are no command", arguments: ["", " ", "\t  "])
  func blank(line: String) throws {
    #expect(try ClientCommand.parse(line) == nil)
  }

  @Test(
    "malformed commands say what to type",
    arguments: [
      ("/create", "usage: /create <group>"),
      ("/join", "usage: /join <group>"),
      ("/leave", "usage: /leave <group>"),
      ("/list all", "usage: /list"),
      ("/members bad name", "invalid group name 'bad name': use 1 to 32 characters from A-Z a-z 0-9 _ - ."),
      ("/quit now", "usage: /quit"),
      ("/help me", "usage: /help"),
      ("/msg bob", "usage: /msg <user> <text>"),
      ("/msg", "usage: /msg <user> <text>"),
      ("/say general", "usage: /say <group> <text>"),
      ("/to #bad!", "invalid group name 'bad!': use 1 to 32 characters from A-Z a-z 0-9 _ - ."),
      ("/to @bad!", "invalid username 'bad!': use 1 to 32 characters from A-Z a-z 0-9 _ - ."),
      ("/to general", "'general' is not a channel: use /to #<group> or /to @<user>."),
      ("/to #a #b", "'#a #b' is not a channel: use /to #<group> or /to @<user>."),
      ("/to #", "'#' is not a channel: use /to #<group> or /to @<user>."),
      ("/frobnicate x", "unknown command '/frobnicate': /help lists the commands."),
      ("/", "unknown command '/': /help lists the commands."),
    ])
  func malformed(line: String, message: String) {
    #expect(throws: CommandError(message)) { try ClientCommand.parse(line) }
  }

  /// The server's words for a bad name, so the line says what to type.
  @Test(
    "a group name that breaks the server's rule is refused with the rule",
    arguments: [
      ("/create a b", "a b"),
      ("/join bad name", "bad name"),
      ("/join #bad name", "bad name"),
      ("/leave no/slash", "no/slash"),
      ("/create #", "#"),
      ("/create café", "café"),
      ("/join \(String(repeating: "x", count: 33))", String(repeating: "x", count: 33)),
    ])
  func invalidGroupName(line: String, name: String) {
    #expect(throws: CommandError("invalid group name '\(name)': use 1 to 32 characters from A-Z a-z 0-9 _ - .")) {
      try ClientCommand.parse(line)
    }
  }

  @Test("help lists every command")
  func help() {
    for name in ClientCommand.names {
      #expect(ClientCommand.helpText.contains { $0.hasPrefix("  \(name)") }, "\(name)")
    }
    #expect(
      ClientCommand.names == [
        "/create", "/join", "/leave", "/list", "/members", "/msg", "/say", "/to", "/history", "/signup", "/signin",
        "/signout", "/help", "/quit",
      ])
  }
}

@Suite("Server address")
struct ServerAddressTests {
  @Test(
    "host:port parses",
    arguments: [
      ("127.0.0.1:50051", ServerAddress(host: "127.0.0.1", port: 50051)),
      ("localhost:1", ServerAddress(host: "localhost", port: 1)),
      ("[::1]:8080", ServerAddress(host: "::1", port: 8080)),
    ])
  func parses(text: String, address: ServerAddress) {
    #expect(ServerAddress(parsing: text) == address)
    #expect(address.description == text)
  }

  @Test("anything else does not", arguments: ["", "host", ":50051", "host:", "host:0", "host:65536", "::1:80", "a b:1", "host:http"])
  func rejects(text: String) {
    #expect(ServerAddress(parsing: text) == nil)
  }
}

@Suite("Completion")
struct CompletionsTests {
  let known = Completions(users: ["alice", "Bob"], groups: ["general", "books"])

  @Test(
    "Tab offers what fits where the cursor is",
    arguments: [
      ("/j", "", ["/join"]),
      ("/l", "", ["/leave", "/list"]),
      ("", "/join ", ["general", "books"]),
      ("#g", "/say ", ["#general"]),
      ("b", "/msg ", ["Bob"]),
      ("@", "/msg ", ["@alice", "@Bob"]),
      ("", "/to ", ["@alice", "@Bob", "#general", "#books"]),
      ("#", "/to ", ["#general", "#books"]),
      ("B", "hello ", ["Bob", "books"]),
      ("x", "/create ", []),
      ("", "/msg bob ", ["alice", "Bob", "general", "books"]),
    ] as [(String, String, [String])])
  func candidates(word: String, before: String, expected: [String]) {
    #expect(known.candidates(for: word, after: before) == expected)
  }

  @Test("names come from a /list answer")
  func fromChannels() {
    let completions = Completions(channels: [
      .with { $0.name = "alice"; $0.type = .user },
      .with { $0.name = "general"; $0.type = .group },
    ])
    #expect(completions == Completions(users: ["alice"], groups: ["general"]))
  }
}
