import ChatTestSupport
import Foundation
import Testing

/// The real `chat-client` with accounts, against a real server.
@Suite("chat-client end to end, with an account")
struct ChatClientAccountEndToEndTests {
  @Test("an account signs up, keeps its token, is connected with it at the next start, reads history, and signs out")
  func account() async throws {
    let server = try await TestServer()
    let alice = try ChatClientProcess(nil, port: server.port, environment: ["CHAT_PASSWORD": "correct horse"])
    try await alice.expect("* not connected")
    alice.type("/signup alice")
    try await alice.expect("* signed in as alice; the token is kept in \(alice.tokenDirectory.path)")
    try await alice.expect("* connected as alice")
    alice.type("/create g")
    try await alice.expect("* alice joined #g")
    alice.type("/say g first")
    try await alice.expect("[#g] alice: first")
    alice.type("/quit")
    #expect(try await alice.exitStatus() == 0)

    let file = alice.tokenDirectory.appendingPathComponent("127.0.0.1_\(server.port)/alice.token")
    let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
    #expect(mode == 0o600)

    // No name: the one kept token. The account is still a member of #g.
    let again = try ChatClientProcess(nil, port: server.port, tokenDirectory: alice.tokenDirectory)
    try await again.expect("* connecting to 127.0.0.1:\(server.port) as alice (account)")
    try await again.expect("* connected as alice")
    again.type("/to #g")
    try await again.expect("* talking to #g")
    again.type("/history")
    try await again.expect("* history of #g: 2 events, oldest first")
    try await again.expect("* alice joined #g")
    try await again.expect("[#g] alice: first")
    again.type("/signout")
    try await again.expect("* signed out; the token of alice is revoked and deleted")
    #expect(try await again.exitStatus() == 0)
    #expect(!FileManager.default.fileExists(atPath: file.path))

    // alice (used below) keeps the token directory `again` shares until here.
    for line in alice.output.everything + again.output.everything {
      #expect(!line.contains("ct_"), "a token was printed")
    }
    try await server.stop()
  }

  @Test("/members shows who is online, /list marks the groups one is in, and presence changes are printed")
  func presenceAndMembers() async throws {
    let server = try await TestServer { $0.limits.presenceGrace = .zero }
    let bob = try ChatClientProcess("bob", port: server.port)
    try await bob.expect("* connected as bob")
    bob.type("/create lounge")
    try await bob.expect("* bob joined #lounge")
    bob.type("/create empty-room")
    try await bob.expect("* bob joined #empty-room")
    bob.type("/leave empty-room")
    try await bob.expect("* #empty-room was deleted (its last member left)")
    let zoe = try ChatClientProcess(nil, port: server.port, environment: ["CHAT_PASSWORD": "correct horse"])
    try await zoe.expect("* not connected")
    zoe.type("/signup zoe")
    try await zoe.expect("* connected as zoe")
    zoe.type("/join lounge")
    try await bob.expect("* zoe joined #lounge")
    zoe.type("/quit")
    #expect(try await zoe.exitStatus() == 0)
    try await bob.expect("* zoe went offline")
    bob.type("/members lounge")
    try await bob.expect("* #lounge: 2 members, 1 online")
    try await bob.expect("*   bob (online)")
    try await bob.expect("*   zoe (account, offline, last seen ")

    let back = try ChatClientProcess(nil, port: server.port, tokenDirectory: zoe.tokenDirectory)
    try await back.expect("* connected as zoe")
    try await bob.expect("* zoe is online")
    back.type("/create solo")
    try await back.expect("* zoe joined #solo")
    back.type("/list")
    try await back.expect("* users: @bob, @zoe; groups: #lounge (joined), #solo (joined)")
    bob.type("/list")
    try await bob.expect("* users: @bob, @zoe; groups: #lounge (joined), #solo")
    back.type("/quit")
    bob.type("/quit")
    #expect(try await back.exitStatus() == 0)
    #expect(try await bob.exitStatus() == 0)
    // zoe's token directory, which `back` shares, is removed when zoe goes.
    withExtendedLifetime(zoe) {}
    try await server.stop()
  }
}
