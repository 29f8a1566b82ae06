import ChatAPI
import ChatCore
import ChatTestSupport
import GRPCCore
import Testing

@Suite("History and catch-up")
struct HistoryTests {
  @Test("History pages a group newest first before a seq and oldest first after one, with has_more")
  func paging() async throws {
    try await TestServer.with { server in
      let ann = try await server.user("ann")
      try await ann.create("g")
      for index in 1...5 { try await ann.send("m\(index)", to: "g", .group) }
      let newest = try await ann.history("g", .group, limit: 2)
      #expect(newest.events.map(\.message.text) == ["m5", "m4"])
      #expect(newest.hasMore_p)
      let older = try await ann.history("g", .group, before: newest.events.last!.seq, limit: 2)
      #expect(older.events.map(\.message.text) == ["m3", "m2"])
      #expect(older.hasMore_p)
      let rest = try await ann.history("g", .group, before: older.events.last!.seq, limit: 10)
      // m1, then ann's own MemberJoined: member events are logged too.
      #expect(rest.events.map(\.message.text) == ["m1", ""])
      #expect(rest.events.last?.memberJoined.username == "ann")
      #expect(!rest.hasMore_p)
      let forward = try await ann.history("g", .group, after: rest.events.first!.seq, limit: 3)
      #expect(forward.events.map(\.message.text) == ["m2", "m3", "m4"])
      #expect(forward.hasMore_p)
      ann.close()
    }
  }

  @Test("History's bad requests get their codes", arguments: [
    ("g", Chat_V1_ChannelType.group, UInt64(3), UInt64(2), UInt32(0), RPCError.Code.invalidArgument),
    ("g", .group, 0, 0, 101, .invalidArgument),
    ("nope", .group, 0, 0, 0, .notFound),
    ("closed", .group, 0, 0, 0, .permissionDenied),
    ("g", .unspecified, 0, 0, 0, .invalidArgument),
    ("bad name", .user, 0, 0, 0, .invalidArgument),
  ])
  func badRequests(
    name: String, type: Chat_V1_ChannelType, before: UInt64, after: UInt64, limit: UInt32, code: RPCError.Code
  ) async throws {
    try await TestServer.with { server in
      let bea = try await server.user("bea")
      let cal = try await server.user("cal")
      try await bea.create("g")
      try await cal.create("closed")
      let error = await rpcError { _ = try await bea.history(name, type, before: before, after: after, limit: limit) }
      #expect(error?.code == code)
      bea.close()
      cal.close()
    }
  }

  @Test("a group created again under an old name starts with no history: the earlier group is not its past")
  func recreatedGroup() async throws {
    try await TestServer.with { server in
      let gus = try await server.user("gus")
      try await gus.create("team")
      try await gus.send("the old team's secret", to: "team", .group)
      try await gus.leave("team")
      let hal = try await server.user("hal")
      try await hal.create("team")
      let history = try await hal.history("team", .group)
      #expect(history.events.map(\.memberJoined.username) == ["hal"])
      #expect(!history.hasMore_p)
      gus.close()
      hal.close()
    }
  }

  @Test("a guest reads direct messages from its own session on, never an earlier namesake's")
  func guestDirectHistory() async throws {
    try await TestServer.with { server in
      let dan = try await server.user("dan")
      var eve = try await server.user("eve")
      try await dan.send("for the first eve", to: "eve", .user)
      #expect(try await eve.history("dan", .user).events.map(\.message.text) == ["for the first eve"])
      eve.close()
      try await eventually("eve to leave") { server.registry.counts().sessions == 1 }
      eve = try await server.user("eve")
      #expect(try await eve.history("dan", .user).events.isEmpty)
      try await dan.send("for the second eve", to: "eve", .user)
      #expect(try await eve.history("dan", .user).events.map(\.message.text) == ["for the second eve"])
      eve.close()
      dan.close()
    }
  }

  @Test("resume from a seq replays exactly what came after it; another epoch or too much replays nothing")
  func resume() async throws {
    try await TestServer.with({ $0.limits.maxReplay = 3 }) { server in
      let token = try await signUpAccount("fay", port: server.port)
      let (fay, _) = try await TestUser.connectAccount("fay", token: token, port: server.port)
      try await fay.create("g")
      try await fay.send("one", to: "g", .group)
      let seen = try await fay.next(until: { $0.message.text == "one" })
      let position = Chat_V1_StreamPosition.with {
        $0.epoch = server.registry.epoch
        $0.seq = seen.last!.seq
      }
      try await fay.send("two", to: "g", .group)
      try await fay.send("three", to: "g", .group)
      _ = try await fay.next(until: { $0.message.text == "three" })
      let (again, welcome) = try await TestUser.connectAccount("fay", token: token, port: server.port, resume: position)
      #expect(welcome.recovered)
      #expect(welcome.replayed == 2)
      #expect(try await again.next().message.text == "two")
      #expect(try await again.next().message.text == "three")
      #expect(welcome.position.seq > position.seq)
      try await fay.send("live", to: "g", .group)
      let live = try await again.next()
      #expect(live.message.text == "live")
      #expect(live.seq > welcome.position.seq)

      var otherEpoch = position
      otherEpoch.epoch = "another"
      let (stale, lost) = try await TestUser.connectAccount("fay", token: token, port: server.port, resume: otherEpoch)
      #expect(!lost.recovered)
      #expect(lost.replayed == 0)
      var tooOld = position
      tooOld.seq = 0
      let (far, tooMuch) = try await TestUser.connectAccount("fay", token: token, port: server.port, resume: tooOld)
      #expect(!tooMuch.recovered)
      for user in [fay, again, stale, far] { user.close() }
    }
  }
}
