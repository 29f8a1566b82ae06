import ChatAPI
import Foundation
import Testing

/// The real `chat-client` against `FakeAccountServer`, a stand-in for the server's account side
/// as the contract describes it (the real one is not on main yet).
@Suite("chat-client end to end, against a stand-in account server")
struct ChatClientStandInServerTests {
  @Test("sign up, the token on every call, a reconnect that resumes and replays, history, the token kept for the next start, sign out")
  func accountSession() async throws {
    let server = try await FakeAccountServer()
    let service = server.service
    let alice = try ChatClientProcess(nil, port: server.port, environment: ["CHAT_PASSWORD": "correct horse"])
    try await alice.expect("* not connected")
    alice.type("/signup alice")
    try await alice.expect("* signed in as alice; the token is kept in \(alice.tokenDirectory.path)")
    try await alice.expect("* connected as alice")
    let token = try #require(service.issuedTokens.first)
    let first = try #require(service.connects.last)
    #expect(first.authorization == "Bearer \(token)")
    #expect(first.request.username.isEmpty)
    #expect(!first.request.hasResume)

    alice.type("/create g")
    try await alice.expect("* alice joined #g")  // seq 1
    alice.type("/to #g")
    try await alice.expect("* talking to #g")
    alice.type("one")
    try await alice.expect("[#g] alice: one")  // seq 2

    // The server goes away; two messages are said meanwhile.
    service.goDown()
    try await alice.expect("! disconnected: UNAVAILABLE: restarting. (reconnecting in ")
    service.logMissed("while you were away", from: "bob", in: "g")
    service.logMissed("still away", from: "bob", in: "g")
    service.comeBack()
    try await alice.expect("* reconnected; 2 missed events follow", seconds: 20)
    try await alice.expect("[#g] bob: while you were away")
    try await alice.expect("[#g] bob: still away")
    let resumed = try #require(service.connects.last)
    #expect(resumed.request.resume == .with { $0.epoch = FakeAccountService.epoch; $0.seq = 2 })
    #expect(resumed.authorization == "Bearer \(token)")

    alice.type("/history 3")
    try await alice.expect("* history of #g: 3 events, oldest first; older ones: /history 6")
    try await alice.expect("[#g] alice: one")
    try await alice.expect("[#g] bob: while you were away")
    try await alice.expect("[#g] bob: still away")
    alice.type("/quit")
    #expect(try await alice.exitStatus() == 0)

    let file = alice.tokenDirectory.appendingPathComponent("127.0.0.1_\(server.port)/alice.token")
    #expect(try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int == 0o600)
    #expect(
      try FileManager.default.attributesOfItem(atPath: file.deletingLastPathComponent().path)[.posixPermissions] as? Int
        == 0o700)

    // The next start, without a name: the one kept token.
    let again = try ChatClientProcess(nil, port: server.port, tokenDirectory: alice.tokenDirectory)
    try await again.expect("* connecting to 127.0.0.1:\(server.port) as alice (account)")
    try await again.expect("* connected as alice")
    #expect(service.connects.last?.authorization == "Bearer \(token)")
    again.type("/signout")
    try await again.expect("* signed out; the token of alice is revoked and deleted")
    #expect(try await again.exitStatus() == 0)
    #expect(!FileManager.default.fileExists(atPath: file.path))
    #expect(service.issuedTokens.isEmpty)

    // alice (used below) keeps the token directory `again` shares until here.
    for line in alice.output.everything + again.output.everything {
      #expect(!line.contains(token), "a token was printed: \(line)")
    }
    try await server.stop()
  }
}
