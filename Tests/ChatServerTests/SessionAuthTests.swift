import ChatTestSupport
import ChatAPI
import ChatCore
import ChatServer
import GRPCCore
import Testing

/// `--auth session`: every call but Connect proves who it is with the session
/// id from its Welcome; knowing a name is not enough.
@Suite("Session-token authentication")
struct SessionAuthTests {
  /// An `authorization` value that tries to pass as alice.
  enum Forgery: String, CaseIterable, CustomTestStringConvertible {
    case ownName = "her username alone"
    case bearerOwnName = "Bearer and her username"
    case otherName = "another connected user's name"
    case madeUpToken = "a made-up 128-bit token"
    case truncatedToken = "her session id minus its last character"
    case spacedToken = "her session id with a space inside"

    var testDescription: String { rawValue }

    func credential(alice: Chat_V1_Welcome) -> String {
      switch self {
      case .ownName: "alice"
      case .bearerOwnName: "Bearer alice"
      case .otherName: "Bearer bob"
      case .madeUpToken: "Bearer " + String(repeating: "0123456789abcdef", count: 2)
      case .truncatedToken: "Bearer \(alice.sessionID.dropLast())"
      case .spacedToken: "Bearer \(alice.sessionID.prefix(16)) \(alice.sessionID.dropFirst(16))"
      }
    }
  }

  @Test("a call with anything but the caller's own Bearer session id is UNAUTHENTICATED", arguments: Forgery.allCases)
  func impersonation(forgery: Forgery) async throws {
    let server = try await TestServer { $0.auth = .session }
    let (alice, welcome) = try await TestUser.connectWelcomed("alice", port: server.port)
    let bob = try await server.user("bob")
    let forged: Metadata = ["authorization": .string(forgery.credential(alice: welcome))]
    let error = await rpcError {
      _ = try await alice.chat.sendMessage(
        .with {
          $0.to = .with { $0.name = "bob"; $0.type = .user }
          $0.text = "forged"
        }, metadata: forged)
    }
    #expect(error?.code == .unauthenticated, "\(String(describing: error))")
    #expect(error?.message.isEmpty == false)
    #expect(await rpcError { _ = try await alice.chat.listChannels(.init(), metadata: forged) }?.code == .unauthenticated)

    // The genuine token works, and the forged message was never delivered.
    let genuine: Metadata = ["authorization": .string("Bearer \(welcome.sessionID)")]
    _ = try await alice.chat.sendMessage(
      .with {
        $0.to = .with { $0.name = "bob"; $0.type = .user }
        $0.text = "genuine"
      }, metadata: genuine)
    let received = try await bob.next()
    #expect(received.message.text == "genuine")
    #expect(received.message.sender == "alice")
    alice.close()
    bob.close()
    try await server.stop()
  }

  @Test("a session id is 128 random bits, names its own session whatever connection carries it, and dies with it")
  func tokenLifetime() async throws {
    let server = try await TestServer { $0.auth = .session }
    let (alice, aliceWelcome) = try await TestUser.connectWelcomed("alice", port: server.port)
    let (bob, bobWelcome) = try await TestUser.connectWelcomed("bob", port: server.port)
    for id in [aliceWelcome.sessionID, bobWelcome.sessionID] {
      #expect(id.count == 32 && id.allSatisfy { $0.isHexDigit }, "\(id)")
    }
    #expect(aliceWelcome.sessionID != bobWelcome.sessionID)
    let asAlice: Metadata = ["authorization": .string("Bearer \(aliceWelcome.sessionID)")]
    let asBob: Metadata = ["authorization": .string("Bearer \(bobWelcome.sessionID)")]

    // The token, not the connection, says who calls: alice's token on bob's connection is alice.
    _ = try await bob.chat.createGroupChat(.with { $0.group = "room" }, metadata: asAlice)
    #expect(try await alice.next().memberJoined.username == "alice")
    _ = try await bob.chat.joinGroupChat(.with { $0.group = "room" }, metadata: asBob)
    #expect(try await alice.next().memberJoined.username == "bob")
    #expect(try await bob.next().memberJoined.username == "bob")

    alice.close()
    #expect(try await bob.next().memberLeft.username == "alice")
    let stale = await rpcError { _ = try await bob.chat.listChannels(.init(), metadata: asAlice) }
    #expect(stale?.code == .unauthenticated)

    // Connecting again as alice makes a new session id; the old one stays dead.
    let (again, againWelcome) = try await TestUser.connectWelcomed("alice", port: server.port)
    #expect(againWelcome.sessionID != aliceWelcome.sessionID)
    #expect(await rpcError { _ = try await again.chat.listChannels(.init(), metadata: asAlice) }?.code == .unauthenticated)
    let channels = try await again.chat.listChannels(
      .init(), metadata: ["authorization": .string("Bearer \(againWelcome.sessionID)")])
    #expect(channels.channels.map(\.name) == ["alice", "bob", "room"])
    again.close()
    bob.close()
    try await server.stop()
  }
}
