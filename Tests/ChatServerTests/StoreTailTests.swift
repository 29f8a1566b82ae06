import ChatStore
import Foundation
import Logging
import Testing

@testable import ChatCore
@testable import ChatGRPC

/// A registry on the SQLite store holds each channel's newest --max-replay
/// events in memory; History pages older ones from the store, and catch-up
/// stays all or none at the tail's edge, before and after a restart.
@Suite("The in-memory tail over the SQLite store")
struct StoreTailTests {
  static let historyLimit = 20
  static let maxReplay = 5

  /// A SQLite store in a temporary directory, and registries opened on it in turn.
  final class Harness {
    let directory: String
    private(set) var store: SQLiteStore
    private(set) var registry: ChatRegistry

    init() throws {
      directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-tail-\(UUID().uuidString)").path
      (store, registry) = try Self.open(directory)
    }

    static func open(_ directory: String) throws -> (SQLiteStore, ChatRegistry) {
      let logger = Logger(label: "tail-test")
      let store = try SQLiteStore.open(
        SQLiteStore.Configuration(directory: directory, retention: Retention(messagesPerChannel: historyLimit)),
        logger: logger)
      var limits = RegistryLimits()
      limits.rateLimit = nil
      limits.historyLimit = historyLimit
      limits.maxReplay = maxReplay
      return (store, try ChatRegistry(logger: logger, limits: limits, store: store, format: ProtobufEventEncoding.self))
    }

    /// Stops the registry, closes the store and opens both again on the same directory.
    func restart() async throws {
      registry.shutdown()
      await store.close()
      (store, registry) = try Self.open(directory)
    }

    func finish() async {
      registry.shutdown()
      await store.close()
      try? FileManager.default.removeItem(atPath: directory)
    }

    /// Signs up an account; returns its token.
    func signUp(_ name: String) async throws -> TokenHash {
      let token = TokenHash(Array(name.utf8))
      try await registry.signUp(
        ChatName.validate(name, as: .user), passwordHash: Data([1]), token: token,
        expires: Date().addingTimeInterval(3600)
      ).wait()
      return token
    }

    func caller(_ token: TokenHash) throws -> Caller {
      try registry.authenticate(token: token, charge: false)
    }

    /// Sends and waits for the commit.
    @discardableResult
    func send(_ text: String, to group: String, from token: TokenHash) async throws -> UInt64 {
      let (id, durability) = try registry.send(text, to: .group, named: group, from: caller(token))
      try await durability.wait()
      return id
    }

    /// Every page of `group`'s History, `limit` at a time, newest first.
    func pagesBack(_ group: String, _ token: TokenHash, limit: UInt32) async throws -> [HistoryPage] {
      var pages: [HistoryPage] = []
      var before: UInt64 = 0
      repeat {
        let page = try await registry.history(
          .group, named: group, before: before, after: 0, limit: limit, by: caller(token))
        pages.append(page)
        before = page.events.last?.seq ?? 0
      } while pages.last!.hasMore && pages.count < 100
      return pages
    }

    /// Every page of `group`'s History, `limit` at a time, oldest first (from seq 1 on).
    func pagesForward(_ group: String, _ token: TokenHash, limit: UInt32) async throws -> [HistoryPage] {
      var pages: [HistoryPage] = []
      var after: UInt64 = 1
      repeat {
        let page = try await registry.history(
          .group, named: group, before: 0, after: after, limit: limit, by: caller(token))
        pages.append(page)
        after = page.events.last?.seq ?? after
      } while pages.last!.hasMore && pages.count < 100
      return pages
    }
  }

  static func texts(_ events: [SharedEvent]) -> [String] {
    events.map { event in
      switch event.event.kind {
      case .message(let message): message.text
      case .memberJoined(_, let user): "+\(user)"
      case .memberLeft(_, let user, _): "-\(user)"
      default: "?"
      }
    }
  }

  /// Everything queued for the session, as its writer takes it; `written`
  /// moves the account's position past it, as writing it to a stream does.
  static func drain(_ session: Session, _ registry: ChatRegistry, written: Bool = true) -> [SharedEvent] {
    var events: [SharedEvent] = []
    while case .events(let batch)? = session.queue.takeReady() { events += batch }
    if written { registry.recordWritten(events, to: session) }
    return events
  }

  static func welcome(_ events: [SharedEvent]) throws -> Welcome {
    guard case .welcome(let welcome)? = events.first?.event.kind else { throw WelcomeMissing() }
    return welcome
  }

  struct WelcomeMissing: Error {}

  @Test("History pages past the in-memory tail from SQLite, both ways, with has_more, before and after a restart; the tail stays bounded")
  func historyPastTheTail() async throws {
    let h = try Harness()
    let ann = try await h.signUp("ann")
    try await h.registry.createGroup("g", by: h.caller(ann)).wait()
    for index in 1...30 { try await h.send("m\(index)", to: "g", from: ann) }
    // Retention keeps the newest 20 messages (SQLite prunes only past 20 + slack).
    let retained = (11...30).map { "m\($0)" }

    for round in ["live", "restarted"] {
      #expect(h.registry.eventsInMemory == Self.maxReplay, "\(round)")
      for limit: UInt32 in [1, 3, 7, 50] {
        let back = try await h.pagesBack("g", ann, limit: limit)
        #expect(Self.texts(back.flatMap(\.events)) == retained.reversed(), "\(round) limit \(limit)")
        #expect(back.dropLast().allSatisfy { $0.hasMore && $0.events.count == Int(limit) }, "\(round) limit \(limit)")
        #expect(!back.last!.hasMore, "\(round) limit \(limit)")
        let forward = try await h.pagesForward("g", ann, limit: limit)
        #expect(Self.texts(forward.flatMap(\.events)) == retained, "\(round) limit \(limit)")
        #expect(!forward.last!.hasMore, "\(round) limit \(limit)")
      }
      // A page entirely in memory, and one crossing from memory into the store.
      let newest = try await h.registry.history(.group, named: "g", before: 0, after: 0, limit: 2, by: h.caller(ann))
      #expect(Self.texts(newest.events) == ["m30", "m29"] && newest.hasMore, "\(round)")
      let crossing = try await h.registry.history(
        .group, named: "g", before: newest.events[1].seq, after: 0, limit: 6, by: h.caller(ann))
      #expect(Self.texts(crossing.events) == ["m28", "m27", "m26", "m25", "m24", "m23"] && crossing.hasMore, "\(round)")
      try await h.restart()
    }
    await h.finish()
  }

  @Test("catch-up is all or none at the tail's edge: --max-replay missed events are replayed, one more replays none, before and after a restart")
  func catchUpAtTheEdge() async throws {
    let h = try Harness()
    let kit = try await h.signUp("kit")
    let lou = try await h.signUp("lou")
    try await h.registry.createGroup("g", by: h.caller(kit)).wait()
    try await h.registry.joinGroup("g", by: h.caller(lou)).wait()
    var seqs: [UInt64] = []
    for index in 1...12 { seqs.append(try await h.send("m\(index)", to: "g", from: lou)) }

    for round in ["live", "restarted"] {
      // Exactly --max-replay events follow m7: all in memory, all replayed.
      let atEdge = LogPosition(epoch: h.registry.epoch, seq: seqs[6])
      let session = try h.registry.connect(token: kit, requested: "", resume: atEdge)
      let events = Self.drain(session, h.registry)
      let welcome = try Self.welcome(events)
      #expect(welcome.recovered && welcome.replayed == Self.maxReplay, "\(round)")
      #expect(Self.texts(Array(events.dropFirst())) == ["m8", "m9", "m10", "m11", "m12"], "\(round)")
      h.registry.disconnect(session)
      // One more (m7 is older than the tail): none, recovered false; the store still has it.
      let pastEdge = LogPosition(epoch: h.registry.epoch, seq: seqs[5])
      let again = try await h.registry.connectAccount(token: kit, requested: "", resume: pastEdge)
      let none = Self.drain(again, h.registry)
      let refused = try Self.welcome(none)
      #expect(!refused.recovered && refused.replayed == 0 && none.count == 1, "\(round)")
      h.registry.disconnect(again)
      try await h.restart()
    }
    await h.finish()
  }

  @Test("a group the account left long ago: its few missed events, older than the tail, are read from the store and replayed, before and after a restart")
  func catchUpFromALeftGroup() async throws {
    let h = try Harness()
    let kit = try await h.signUp("kit")
    let lou = try await h.signUp("lou")
    try await h.registry.createGroup("old", by: h.caller(kit)).wait()
    try await h.registry.joinGroup("old", by: h.caller(lou)).wait()
    // kit's session sees everything so far, then ends: its position is lou's join.
    let first = try h.registry.connect(token: kit, requested: "", resume: nil)
    _ = Self.drain(first, h.registry)
    h.registry.disconnect(first)
    try await h.send("while kit was away 1", to: "old", from: lou)
    try await h.send("while kit was away 2", to: "old", from: lou)
    try await h.registry.leaveGroup("old", by: h.caller(kit)).wait()
    // The group goes on well past the tail after kit left.
    for index in 1...(Self.maxReplay * 2) { try await h.send("after \(index)", to: "old", from: lou) }

    for round in ["live", "restarted"] {
      let session = try await h.registry.connectAccount(token: kit, requested: "", resume: nil)
      let events = Self.drain(session, h.registry, written: false)
      let welcome = try Self.welcome(events)
      #expect(welcome.recovered && welcome.replayed == 2, "\(round)")
      #expect(Self.texts(Array(events.dropFirst())) == ["while kit was away 1", "while kit was away 2"], "\(round)")
      // Not written to kit's position: the session ends before taking them.
      h.registry.disconnect(session)
      try await h.restart()
    }
    // Written this time: nothing is missed any more.
    let last = try await h.registry.connectAccount(token: kit, requested: "", resume: nil)
    _ = Self.drain(last, h.registry)
    h.registry.disconnect(last)
    let next = try await h.registry.connectAccount(token: kit, requested: "", resume: nil)
    let welcome = try Self.welcome(Self.drain(next, h.registry))
    #expect(welcome.recovered && welcome.replayed == 0)
    await h.finish()
  }
}
