import ChatTestSupport
import ChatAPI
import ChatCore
import ChatServer
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// The contract over real HTTP/2 on loopback, with grpc-swift's client.
@Suite("End to end")
struct EndToEndTests {
  @Test("Connect streams Welcome first; a second Connect with the same name in any case is ALREADY_EXISTS")
  func connect() async throws {
    let server = try await TestServer()
    let alice = try await server.user("Alice")
    let duplicate = try await TestUser.failingConnect("ALICE", port: server.port)
    #expect(duplicate?.code == .alreadyExists)
    #expect(duplicate?.message == "user 'ALICE' is already connected.")
    let invalid = try await TestUser.failingConnect("not valid!", port: server.port)
    #expect(invalid?.code == .invalidArgument)
    #expect(invalid?.message.contains("'not valid!'") == true)
    // Connect goes through no interceptor: the service logs its refusals itself.
    let refusals = server.logs.entries.filter { $0.message.description == "rpc failed" && $0.metadata["method"] == "Connect" }
    #expect(refusals.compactMap { $0.metadata["code"].map { "\($0)" } }.sorted() == ["ALREADY_EXISTS", "INVALID_ARGUMENT"])
    #expect(refusals.allSatisfy { $0.level == .info })
    alice.close()
    try await server.stop()
  }

  @Test(
    "calls without a valid authorization are UNAUTHENTICATED",
    arguments: [[:], ["authorization": ""], ["authorization": "Bearer "], ["authorization": "ghost"], ["authorization": "Bearer ghost"]] as [Metadata])
  func unauthenticated(metadata: Metadata) async throws {
    let server = try await TestServer()
    let alice = try await server.user("alice")
    let error = await rpcError { _ = try await alice.chat.createGroupChat(.with { $0.group = "g" }, metadata: metadata) }
    #expect(error?.code == .unauthenticated)
    #expect(error?.message.isEmpty == false)
    // Both header forms work once they name a connected user.
    _ = try await alice.chat.createGroupChat(.with { $0.group = "g" }, metadata: ["authorization": "Bearer Alice"])
    _ = try await alice.chat.listChannels(.init(), metadata: ["authorization": "alice"])
    alice.close()
    try await server.stop()
  }

  @Test("group lifecycle: create, join, leave, with the right events and errors")
  func groups() async throws {
    let server = try await TestServer()
    let alice = try await server.user("alice")
    let bob = try await server.user("bob")

    try await alice.create("Lounge")
    #expect(try await alice.next().memberJoined == .with { $0.group = "Lounge"; $0.username = "alice" })
    #expect(await rpcError { try await bob.create("lounge") }?.code == .alreadyExists)
    #expect(await rpcError { try await bob.join("nowhere") }?.code == .notFound)
    #expect(await rpcError { try await bob.leave("lounge") }?.code == .failedPrecondition)
    #expect(await rpcError { try await bob.create("no spaces") }?.code == .invalidArgument)

    try await bob.join("lounge")
    let joined = Chat_V1_MemberJoined.with { $0.group = "Lounge"; $0.username = "bob" }
    #expect(try await alice.next().memberJoined == joined)
    #expect(try await bob.next().memberJoined == joined)
    #expect(await rpcError { try await bob.join("LOUNGE") }?.code == .alreadyExists)

    try await bob.leave("lounge")
    #expect(try await alice.next().memberLeft == .with { $0.group = "Lounge"; $0.username = "bob"; $0.reason = .left })
    try await alice.leave("lounge")
    #expect(await rpcError { try await bob.join("lounge") }?.code == .notFound)
    alice.close()
    bob.close()
    try await server.stop()
  }

  @Test("messages to users and groups reach their audience with ids, names and times")
  func messages() async throws {
    let server = try await TestServer()
    let alice = try await server.user("alice")
    let bob = try await server.user("Bob")
    let carol = try await server.user("carol")

    try await alice.send("hi bob", to: "bob", .user)
    for user in [alice, bob] {
      let event = try await user.next()
      #expect(event.message.sender == "alice")
      #expect(event.message.channel == .with { $0.name = "Bob"; $0.type = .user })
      #expect(event.message.text == "hi bob")
      #expect(event.hasTime)
    }
    try await alice.send("to myself", to: "alice", .user)
    try await alice.send("marker", to: "alice", .user)
    #expect(try await alice.next().message.text == "to myself")
    #expect(try await alice.next().message.text == "marker")

    try await alice.create("g")
    try await bob.join("g")
    _ = try await alice.next(until: { $0.memberJoined.username == "Bob" })
    _ = try await bob.next()
    try await bob.send("hello group", to: "G", .group)
    let a = try await alice.next().message
    let b = try await bob.next().message
    #expect(a == b)
    #expect(a.channel == .with { $0.name = "g"; $0.type = .group })

    let outsider = await rpcError { try await carol.send("let me in", to: "g", .group) }
    #expect(outsider?.code == .permissionDenied)
    #expect(outsider?.message == "user 'carol' is not a member of group 'g', so cannot send to it.")
    #expect(await rpcError { try await carol.send("hi", to: "dave", .user) }?.message == "no connected user 'dave'.")
    #expect(await rpcError { try await carol.send("hi", to: "nope", .group) }?.code == .notFound)
    #expect(await rpcError { try await carol.send("hi", to: "bob", .unspecified) }?.code == .invalidArgument)
    #expect(await rpcError { try await carol.send("hi", to: "", .user) }?.code == .invalidArgument)
    #expect(await rpcError { try await carol.send("  \n", to: "bob", .user) }?.code == .invalidArgument)
    #expect(await rpcError { try await carol.send("bell\u{07}", to: "bob", .user) }?.code == .invalidArgument)
    #expect(await rpcError { try await carol.send(String(repeating: "x", count: 4097), to: "bob", .user) }?.code == .invalidArgument)
    try await carol.send(String(repeating: "x", count: 4096), to: "bob", .user)
    #expect(try await bob.next().message.text.utf8.count == 4096)
    // 3 Welcome and at least the 9 events read above were written to streams.
    #expect(server.registry.counts().eventsWritten >= 10)
    for user in [alice, bob, carol] { user.close() }
    try await server.stop()
  }

  @Test("ListChannels lists users then groups, sorted case-insensitively")
  func listChannels() async throws {
    let server = try await TestServer()
    let users = try await [server.user("carol"), server.user("Alice"), server.user("bob")]
    try await users[0].create("zulu")
    try await users[2].create("Echo")
    let channels = try await users[1].list()
    #expect(channels.map(\.name) == ["Alice", "bob", "carol", "Echo", "zulu"])
    #expect(channels.map(\.type) == [.user, .user, .user, .group, .group])
    for user in users { user.close() }
    try await server.stop()
  }

  @Test("a client that goes away leaves every group; members see DISCONNECTED; the name is free again")
  func disconnect() async throws {
    let server = try await TestServer()
    let alice = try await server.user("alice")
    let bob = try await server.user("bob")
    try await alice.create("g")
    try await bob.join("g")
    try await bob.create("bobs")
    _ = try await alice.next(until: { $0.memberJoined.username == "bob" })
    bob.close()
    let left = try await alice.next().memberLeft
    #expect(left == .with { $0.group = "g"; $0.username = "bob"; $0.reason = .disconnected })
    #expect(server.registry.snapshot().groups.map(\.name) == ["g"])
    let again = try await server.user("bob")
    again.close()
    alice.close()
    try await server.stop()
  }

  @Test("a kick ends the stream with PERMISSION_DENIED and members see KICKED")
  func kick() async throws {
    let server = try await TestServer()
    let alice = try await server.user("alice")
    let bob = try await server.user("bob")
    try await alice.create("g")
    try await bob.join("g")
    _ = try await alice.next(until: { $0.memberJoined.username == "bob" })
    _ = try server.registry.kick("bob", reason: "spam")
    let end = await bob.streamEnd()
    #expect(end?.code == .permissionDenied)
    #expect(end?.message.contains("kicked") == true && end?.message.contains("spam") == true)
    #expect(try await alice.next().memberLeft.reason == .kicked)
    alice.close()
    bob.close()
    try await server.stop()
  }

  @Test("a reader that stops reading is ended RESOURCE_EXHAUSTED while others get every message in order")
  func slowConsumer() async throws {
    let server = try await TestServer { $0.limits.maxQueueBytes = 64 * 1024 }
    let alice = try await server.user("alice")
    try await alice.create("g")
    _ = try await alice.next()
    // The slow member is a raw Connect whose handler never reads: its
    // client-side buffer and the HTTP/2 window fill, then the server's queue.
    let slow = try await SilentUser.connect("slow", port: server.port)
    _ = try await alice.chat.joinGroupChat(.with { $0.group = "g" }, metadata: ["authorization": "slow"])
    _ = try await alice.next()
    let text = String(repeating: "y", count: 4000)
    var slowGone = false
    // Loopback socket buffers hold a few MiB; 4,000 messages of 4 KB is far more.
    for i in 0..<4000 where !slowGone {
      try await alice.send("\(i) \(text)", to: "g", .group)
      let events = try await alice.next(until: { $0.hasMessage })
      #expect(events.last?.message.text.hasPrefix("\(i) ") == true)
      slowGone = events.contains { $0.memberLeft.username == "slow" }
    }
    if !slowGone { _ = try await alice.next(until: { $0.memberLeft.username == "slow" }) }
    #expect(server.registry.snapshot().users.map(\.name) == ["alice"])
    #expect(server.logs.entries.contains { $0.metadata["reason"] == "slow_consumer" })
    slow.close()
    alice.close()
    try await server.stop()
  }

  @Test("shutdown completes in time even while a stalled client blocks its stream")
  func shutdownWithStalledClient() async throws {
    let server = try await TestServer { $0.shutdownTimeout = .seconds(1) }
    let alice = try await server.user("alice")
    try await alice.create("g")
    let stalled = try await SilentUser.connect("stalled", port: server.port)
    _ = try await alice.chat.joinGroupChat(.with { $0.group = "g" }, metadata: ["authorization": "stalled"])
    // 300 KB: more than the stalled stream's window and buffers, less than its queue.
    let text = String(repeating: "s", count: 3_000)
    for i in 0..<100 { try await alice.send("\(i) \(text)", to: "g", .group) }
    _ = try await alice.next(until: { $0.message.text.hasPrefix("99 ") })
    #expect(server.registry.snapshot().users.count == 2)
    let clock = ContinuousClock()
    let start = clock.now
    try await server.stop()
    #expect(clock.now - start < .seconds(5))
    let end = await alice.streamEnd()
    #expect(end?.code == .unavailable, "\(String(describing: end))")
    stalled.close()
    alice.close()
  }

  @Test("shutdown ends open streams UNAVAILABLE and run() returns")
  func shutdown() async throws {
    let server = try await TestServer()
    let alice = try await server.user("alice")
    let bob = try await server.user("bob")
    let clock = ContinuousClock()
    let start = clock.now
    try await server.stop()
    #expect(clock.now - start < .seconds(5))
    for user in [alice, bob] {
      let end = await user.streamEnd()
      #expect(end?.code == .unavailable)
      user.close()
    }
  }
}

/// A Connect stream that reads Welcome and then nothing more, until told to
/// read to the end.
final class SilentUser: Sendable {
  private let client: GRPCClient<HTTP2ClientTransport.Posix>
  private let tasks: [Task<Void, any Error>]
  private let stream: Task<RPCError?, Never>
  private let resume: AsyncStream<Void>.Continuation

  private init(
    client: GRPCClient<HTTP2ClientTransport.Posix>, tasks: [Task<Void, any Error>],
    stream: Task<RPCError?, Never>, resume: AsyncStream<Void>.Continuation
  ) {
    self.client = client
    self.tasks = tasks
    self.stream = stream
    self.resume = resume
  }

  static func connect(_ name: String, port: Int) async throws -> SilentUser {
    // A small HTTP/2 window (grpc-swift's default is 8 MiB) so the server
    // feels the stall after a few messages.
    var config = HTTP2ClientTransport.Posix.Config.defaults
    config.http2.targetWindowSize = 65_535
    let client = GRPCClient(
      transport: try .http2NIOPosix(
        target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext, config: config))
    let chat = Chat_V1_ChatService.Client(wrapping: client)
    let (welcomed, signal) = AsyncStream.makeStream(of: Void.self)
    let (readSignal, resume) = AsyncStream.makeStream(of: Void.self)
    let run = Task { try await client.runConnections() }
    let stream = Task { () -> RPCError? in
      do {
        try await chat.connect(.with { $0.username = name }) { response in
          var events = response.messages.makeAsyncIterator()
          _ = try await events.next()
          signal.yield()
          for await _ in readSignal { break }  // stalls here, unread, until readToEnd()
          while try await events.next() != nil {}
        }
        return nil
      } catch let error as RPCError {
        return error
      } catch {
        return RPCError(code: .unknown, message: "\(error)")
      }
    }
    _ = try await withTimeout(5, "Welcome") { await welcomed.first { _ in true } }
    return SilentUser(client: client, tasks: [run], stream: stream, resume: resume)
  }

  /// Starts reading; returns how the stream ended.
  func readToEnd(_ seconds: Double = 10) async -> RPCError? {
    resume.yield()
    do {
      return try await withTimeout(seconds, "a silent stream to end") { [stream] in await stream.value }
    } catch {
      return RPCError(code: .deadlineExceeded, message: "\(error)")
    }
  }

  func close() {
    resume.finish()
    stream.cancel()
    for task in tasks { task.cancel() }
    client.beginGracefulShutdown()
  }
}
