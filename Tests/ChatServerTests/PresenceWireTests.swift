import ChatAPI
import ChatCore
import ChatServer
import ChatTestSupport
import Foundation
import GRPCCore
import Testing

/// The guest alice in #lounge with the account zoe, connected; alice has
/// seen zoe join.
func loungeWithZoe(_ server: TestServer) async throws -> (alice: TestUser, zoe: TestUser, token: String) {
  let alice = try await server.user("alice")
  try await alice.create("lounge")
  let token = try await signUpAccount("zoe", port: server.port)
  let (zoe, _) = try await TestUser.connectAccount("", token: token, port: server.port)
  try await zoe.join("lounge")
  _ = try await alice.next(until: { $0.memberJoined.username == "zoe" })
  return (alice, zoe, token)
}

/// Presence, ListMembers and the lobby through a real server and gRPC client.
@Suite("Presence, members and the lobby over gRPC")
struct PresenceWireTests {
  @Test("ListMembers answers the members with online, account and last seen; refusals carry their code and name the group")
  func listMembers() async throws {
    try await TestServer.with({ $0.limits.presenceGrace = .zero }) { server in
      let alice = try await server.user("alice")
      try await alice.create("Lounge")
      let token = try await signUpAccount("Zoe", port: server.port)
      let (zoe, _) = try await TestUser.connectAccount("", token: token, port: server.port)
      try await zoe.join("lounge")
      zoe.close()
      _ = try await alice.next(until: { $0.presence.username == "Zoe" })
      let members = try await alice.members("LOUNGE")
      #expect(members.map(\.username) == ["alice", "Zoe"])
      #expect(members.map(\.online) == [true, false])
      #expect(members.map(\.account) == [false, true])
      #expect(!members[0].hasLastSeen)
      #expect(abs(members[1].lastSeen.date.timeIntervalSinceNow) < 60)

      let carol = try await server.user("carol")
      let denied = await rpcError { _ = try await carol.members("lounge") }
      #expect(denied?.code == .permissionDenied)
      #expect(denied?.message == "user 'carol' is not a member of group 'Lounge', so cannot list its members.")
      let missing = await rpcError { _ = try await carol.members("nowhere") }
      #expect(missing?.code == .notFound)
      #expect(missing?.message == "no group 'nowhere'.")
      #expect(await rpcError { _ = try await carol.members("no way") }?.code == .invalidArgument)
      alice.close()
      carol.close()
    }
  }

  @Test("the server's timer announces offline once the grace has passed")
  func offlineAfterGrace() async throws {
    try await TestServer.with({ $0.limits.presenceGrace = .milliseconds(200) }) { server in
      let (alice, zoe, _) = try await loungeWithZoe(server)
      zoe.close()
      let seen = try await alice.next(until: { $0.presence.username == "zoe" })
      #expect(seen.last?.presence.online == false)
      #expect(seen.last?.seq == 0)
      alice.close()
    }
  }

  @Test("a reconnect within the grace is silent: the next event others see is the next message")
  func reconnectWithinGrace() async throws {
    try await TestServer.with({ $0.limits.presenceGrace = .seconds(60) }) { server in
      let (alice, zoe, token) = try await loungeWithZoe(server)
      zoe.close()
      let zoeName = try ChatName.validate("zoe", as: .user)
      try await eventually("zoe's session to end") { server.registry.sessions(of: zoeName)?.sessions.isEmpty == true }
      let (back, _) = try await TestUser.connectAccount("", token: token, port: server.port)
      try await back.send("still here", to: "lounge", .group)
      #expect(try await alice.next().message.text == "still here")
      #expect(try await alice.members("lounge").map(\.online) == [true, true])
      alice.close()
      back.close()
    }
  }

  @Test("--lobby: every session joins it on Connect and it survives its last member")
  func lobby() async throws {
    try await TestServer.with({ $0.lobby = ChatName("general") }) { server in
      let alice = try await server.user("alice")
      #expect(try await alice.next().memberJoined == .with { $0.group = "general"; $0.username = "alice" })
      let token = try await signUpAccount("zoe", port: server.port)
      let (zoe, _) = try await TestUser.connectAccount("", token: token, port: server.port)
      #expect(try await zoe.next().memberJoined.username == "zoe")
      #expect(try await alice.next().memberJoined.username == "zoe")
      #expect(try await alice.members("general").map(\.username) == ["alice", "zoe"])
      let exists = await rpcError { try await alice.create("General") }
      #expect(exists?.code == .alreadyExists)
      try await alice.leave("general")
      try await zoe.leave("general")
      #expect(try await alice.list().contains { $0.name == "general" && $0.type == .group })
      alice.close()
      zoe.close()
    }
  }
}
