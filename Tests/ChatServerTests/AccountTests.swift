import ChatAPI
import ChatCore
import ChatServer
import ChatTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// SignUp and SignIn over a connection of their own.
func accountCall<T: Sendable>(
  port: Int, _ body: @Sendable (Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>) async throws -> T
) async throws -> T {
  try await withGRPCClient(
    transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
  ) { client in
    try await body(Chat_V1_ChatService.Client(wrapping: client))
  }
}

func signUpAccount(_ name: String, password: String = "correct horse", port: Int) async throws -> String {
  try await accountCall(port: port) { chat in
    try await chat.signUp(.with {
      $0.username = name
      $0.password = password
    }).token
  }
}

func signInAccount(_ name: String, password: String, port: Int) async throws -> String {
  try await accountCall(port: port) { chat in
    try await chat.signIn(.with {
      $0.username = name
      $0.password = password
    }).token
  }
}

@Suite("Accounts: sign-up, sign-in, several sessions, staying in groups")
struct AccountTests {
  @Test("SignUp returns a token that lasts the token lifetime; Connect with it is an account session")
  func signUpAndConnect() async throws {
    try await TestServer.with { server in
      let before = Date()
      let reply = try await accountCall(port: server.port) { chat in
        try await chat.signUp(.with {
          $0.username = "Alice"
          $0.password = "correct horse"
        })
      }
      #expect(reply.token.hasPrefix("ct_"))
      let lifetime = reply.expiresAt.date.timeIntervalSince(before)
      #expect(abs(lifetime - 30 * 86_400) < 60)
      let (alice, welcome) = try await TestUser.connectAccount("", token: reply.token, port: server.port)
      #expect(welcome.username == "Alice")
      #expect(welcome.account)
      #expect(welcome.recovered)
      #expect(welcome.replayed == 0)
      #expect(welcome.position.epoch == server.registry.epoch)
      alice.close()
      // No log line holds the token.
      #expect(!server.logs.entries.contains { "\($0.message) \($0.metadata)".contains(reply.token) })
    }
  }

  @Test("bad sign-ups and sign-ins get the right codes", arguments: [
    ("bad name!", "correct horse", RPCError.Code.invalidArgument),
    ("bob", "short", .invalidArgument),
    ("bob", String(repeating: "x", count: 257), .invalidArgument),
  ])
  func badSignUps(name: String, password: String, code: RPCError.Code) async throws {
    try await TestServer.with { server in
      let error = await rpcError { _ = try await signUpAccount(name, password: password, port: server.port) }
      #expect(error?.code == code)
    }
  }

  @Test("a name is one namespace: guests and accounts cannot take each other's")
  func oneNamespace() async throws {
    try await TestServer.with { server in
      let guest = try await server.user("bob")
      let taken = await rpcError { _ = try await signUpAccount("BOB", port: server.port) }
      #expect(taken?.code == .alreadyExists)
      _ = try await signUpAccount("alice", port: server.port)
      let again = await rpcError { _ = try await signUpAccount("alice", port: server.port) }
      #expect(again?.code == .alreadyExists)
      let asGuest = try await TestUser.failingConnect("Alice", port: server.port)
      #expect(asGuest?.code == .unauthenticated)
      #expect(asGuest?.message.contains("sign in") == true)
      guest.close()
    }
  }

  @Test("SignIn: a wrong password and an unknown name fail alike; the sixth failure in a minute is throttled")
  func signInRules() async throws {
    try await TestServer.with { server in
      _ = try await signUpAccount("carol", password: "password one", port: server.port)
      let token = try await signInAccount("carol", password: "password one", port: server.port)
      #expect(token.hasPrefix("ct_"))
      let wrong = await rpcError { _ = try await signInAccount("carol", password: "password two", port: server.port) }
      let unknown = await rpcError { _ = try await signInAccount("nobody", password: "password two", port: server.port) }
      #expect(wrong?.code == .unauthenticated)
      #expect(wrong?.message == unknown?.message)
      for _ in 0..<4 { _ = await rpcError { _ = try await signInAccount("carol", password: "nope nope", port: server.port) } }
      let throttled = await rpcError { _ = try await signInAccount("carol", password: "password one", port: server.port) }
      #expect(throttled?.code == .resourceExhausted)
      #expect(throttled?.message.contains("retry in") == true)
    }
  }

  @Test("every session of an account gets its events, its own messages included; a DM to an offline account waits for it")
  func severalSessions() async throws {
    try await TestServer.with { server in
      let token = try await signUpAccount("dave", port: server.port)
      let (phone, _) = try await TestUser.connectAccount("dave", token: token, port: server.port)
      let (laptop, _) = try await TestUser.connectAccount("", token: token, port: server.port)
      let erin = try await server.user("erin")
      try await erin.send("hi dave", to: "dave", .user)
      for session in [phone, laptop] {
        let event = try await session.next()
        #expect(event.message.text == "hi dave")
        #expect(event.seq == event.message.id)
        #expect(event.seq > 0)
      }
      try await phone.send("from the phone", to: "erin", .user)
      #expect(try await laptop.next().message.text == "from the phone")
      #expect(try await phone.next().message.text == "from the phone")
      phone.close()
      laptop.close()
      try await eventually("the two sessions to end") { server.registry.counts().sessions == 1 }
      // Offline: accepted and kept.
      try await erin.send("while you were out", to: "dave", .user)
      // Erin's own copies: her first DM, dave's reply, then this one.
      let erinSaw = try await erin.next(until: { $0.message.text == "while you were out" })
      #expect(erinSaw.map(\.message.text) == ["hi dave", "from the phone", "while you were out"])
      let (back, welcome) = try await TestUser.connectAccount("dave", token: token, port: server.port)
      #expect(welcome.recovered)
      #expect(welcome.replayed == 1)
      #expect(try await back.next().message.text == "while you were out")
      back.close()
      erin.close()
    }
  }

  @Test("an account stays in its groups while offline: no MemberLeft, and the group lives on")
  func staysInGroups() async throws {
    try await TestServer.with { server in
      let token = try await signUpAccount("frank", port: server.port)
      let (frank, _) = try await TestUser.connectAccount("frank", token: token, port: server.port)
      try await frank.create("book-club")
      _ = try await frank.next()  // MemberJoined
      frank.close()
      try await eventually("the session to end") { server.registry.counts().sessions == 0 }
      #expect(server.registry.members(ofGroup: ChatName("book-club")!)?.members.map(\.name.display) == ["frank"])
      let gina = try await server.user("gina")
      try await gina.join("book-club")
      try await gina.send("anyone here?", to: "book-club", .group)
      let (again, welcome) = try await TestUser.connectAccount("frank", token: token, port: server.port)
      #expect(welcome.replayed == 2)
      let missed = [try await again.next(), try await again.next()]
      #expect(missed.map(\.seq) == missed.map(\.seq).sorted())
      #expect(missed.last?.message.text == "anyone here?")
      again.close()
      gina.close()
    }
  }

  @Test("SignOut revokes the token and ends the streams opened with it, UNAUTHENTICATED")
  func signOutRules() async throws {
    try await TestServer.with { server in
      let first = try await signUpAccount("hana", port: server.port)
      let second = try await signInAccount("hana", password: "correct horse", port: server.port)
      let (one, _) = try await TestUser.connectAccount("hana", token: first, port: server.port)
      let (two, _) = try await TestUser.connectAccount("hana", token: second, port: server.port)
      try await one.signOut()
      let end = await one.streamEnd()
      #expect(end?.code == .unauthenticated)
      #expect(end?.message.contains("signed out") == true)
      let reuse = await rpcError { _ = try await one.list() }
      #expect(reuse?.code == .unauthenticated)
      let refused = await TestUser.failingAccountConnect("hana", token: first, port: server.port)
      #expect(refused?.code == .unauthenticated)
      // The other token's session goes on.
      _ = try await two.list()
      two.close()
      let guest = try await server.user("ivan")
      let notAccount = await rpcError { try await guest.signOut() }
      #expect(notAccount?.code == .failedPrecondition)
      guest.close()
    }
  }

  @Test("a token naming another user at Connect is PERMISSION_DENIED; past the session cap RESOURCE_EXHAUSTED")
  func connectRules() async throws {
    try await TestServer.with({ $0.limits.maxSessionsPerUser = 2 }) { server in
      let token = try await signUpAccount("judy", port: server.port)
      let mismatch = await TestUser.failingAccountConnect("kim", token: token, port: server.port)
      #expect(mismatch?.code == .permissionDenied)
      let (a, _) = try await TestUser.connectAccount("judy", token: token, port: server.port)
      let (b, _) = try await TestUser.connectAccount("judy", token: token, port: server.port)
      let third = await TestUser.failingAccountConnect("judy", token: token, port: server.port)
      #expect(third?.code == .resourceExhausted)
      let madeUp = await TestUser.failingAccountConnect(
        "judy", token: "ct_" + String(repeating: "A", count: 43), port: server.port)
      #expect(madeUp?.code == .unauthenticated)
      a.close()
      b.close()
    }
  }

  @Test("kick ends every session of an account, and it leaves every group KICKED")
  func kickAccount() async throws {
    try await TestServer.with { server in
      let token = try await signUpAccount("leo", port: server.port)
      let (one, _) = try await TestUser.connectAccount("leo", token: token, port: server.port)
      let (two, _) = try await TestUser.connectAccount("leo", token: token, port: server.port)
      let mia = try await server.user("mia")
      try await mia.create("g")
      try await one.join("g")
      _ = try await mia.next(until: { $0.memberJoined.username == "leo" })
      _ = try server.registry.kick("leo", reason: "spam")
      #expect(await one.streamEnd()?.code == .permissionDenied)
      #expect(await two.streamEnd()?.code == .permissionDenied)
      let left = try await mia.next(until: { $0.memberLeft.username == "leo" })
      #expect(left.last?.memberLeft.reason == .kicked)
      mia.close()
    }
  }
}
