import GRPCCore
import Testing

@testable import ChatConsole
@testable import ChatCore
@testable import ChatGRPC
@testable import ChatServer

@Suite("Names and message text")
struct ValidationTests {
  @Test("valid names are accepted and fold case", arguments: ["a", "Alice", "bob_1", "x.y-z", String(repeating: "k", count: 32)])
  func validNames(raw: String) throws {
    let name = try ChatName.validate(raw, as: .user)
    #expect(name.display == raw)
    #expect(name.key == raw.lowercased())
  }

  @Test("invalid names are INVALID_ARGUMENT naming the value", arguments: ["", " ", "a b", "é", "bob!", "a/b", String(repeating: "k", count: 33), "tab\t"])
  func invalidNames(raw: String) {
    #expect(throws: ChatError.invalidName(.group, raw)) { try ChatName.validate(raw, as: .group) }
    #expect(ChatError.invalidName(.group, raw).rpcErrorCode == .invalidArgument)
    #expect(ChatError.invalidName(.group, raw).rpcErrorMessage.contains("invalid group name"))
  }

  @Test("valid text is accepted", arguments: ["hi", "tab\there", "two\nlines", "ünïcödé 😀", String(repeating: "x", count: 4096), " padded "])
  func validText(text: String) throws {
    try MessageText.validate(text)
  }

  @Test(
    "invalid text is INVALID_ARGUMENT saying why",
    arguments: [
      ("", "empty"), ("   ", "only whitespace"), ("\n\t ", "only whitespace"),
      (String(repeating: "x", count: 4097), "4097 bytes"), (String(repeating: "é", count: 2049), "4098 bytes"),
      ("bell\u{07}", "U+0007"), ("nul\u{0}", "U+0000"), ("cr\r", "U+000D"), ("del\u{7F}", "U+007F"),
      ("c1\u{85}", "U+0085"), ("esc\u{1B}[31m", "U+001B"),
    ])
  func invalidText(text: String, why: String) {
    do {
      try MessageText.validate(text)
      Issue.record("accepted \(text.debugDescription)")
    } catch {
      #expect(error.rpcErrorCode == .invalidArgument)
      #expect(error.rpcErrorMessage.contains(why), "\(error.rpcErrorMessage)")
    }
  }

  @Test("every error message is one non-empty sentence")
  func errorMessages() {
    let errors: [ChatError] = [
      .invalidName(.user, "a b"), .invalidText("text is empty"), .invalidChannelType("CHANNEL_TYPE_UNSPECIFIED"),
      .emptyChannelName, .missingAuthorization, .unknownCaller("bob"), .userAlreadyConnected("bob"),
      .noSuchUser("bob"), .groupAlreadyExists("g"), .noSuchGroup("g"), .alreadyMember(group: "g", user: "bob"),
      .notMemberCannotLeave(group: "g", user: "bob"), .notMemberCannotSend(group: "g", user: "bob"), .shuttingDown,
    ]
    for error in errors {
      #expect(!error.rpcErrorMessage.isEmpty)
      #expect(error.rpcErrorMessage.hasSuffix("."))
    }
  }

  @Test("quoted values escape control characters and are cut at 48 characters")
  func quoting() {
    #expect(quoted("bob") == "'bob'")
    #expect(quoted("a\u{1B}b") == "'a\\u{1B}b'")
    #expect(quoted(String(repeating: "x", count: 100)) == "'" + String(repeating: "x", count: 48) + "…'")
  }
}
