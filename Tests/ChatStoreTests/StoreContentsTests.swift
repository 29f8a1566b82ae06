import Foundation
import Testing

@testable import ChatStore

@Suite("Stores: contents, loading, in-memory")
struct StoreContentsTests {
  /// Every kind of operation, ending in a state with some of each table left.
  static let operations: [StoreOperation] = {
    let created = Date(timeIntervalSince1970: 1_700_000_000)
    return [
      .putAccount(AccountRecord(nameKey: "alice", display: "Alice", passwordHash: Data([1, 2]), created: created)),
      .putAccount(AccountRecord(nameKey: "bob", display: "Bob", passwordHash: Data([3]), created: created)),
      .putAccount(AccountRecord(nameKey: "carol", display: "Carol", passwordHash: Data([4]), created: created)),
      .putToken(TokenRecord(hash: Data([9, 9]), account: "alice", expires: created + 86_400)),
      .putToken(TokenRecord(hash: Data([8]), account: "bob", expires: created + 60)),
      .putToken(TokenRecord(hash: Data([7]), account: "carol", expires: created + 60)),
      .deleteToken(hash: Data([8])),
      .putGroup(GroupRecord(key: "lobby", display: "Lobby", permanent: true)),
      .putGroup(GroupRecord(key: "rust", display: "Rust", permanent: false)),
      .putGroup(GroupRecord(key: "gone", display: "Gone", permanent: false)),
      .addMember(group: "lobby", account: "alice", since: 1),
      .addMember(group: "lobby", account: "bob", since: 2),
      .addMember(group: "rust", account: "alice", since: 3),
      .addMember(group: "rust", account: "bob", since: 4),
      .addMember(group: "rust", account: "bob", since: 4),
      .addMember(group: "gone", account: "alice", since: 5),
      .addMember(group: "lobby", account: "carol", since: 6),
      .endMember(group: "rust", account: "bob", until: 7),
      .endMember(group: "gone", account: "alice", until: 8),
      .deleteGroup(key: "gone"),
      .log(message(1, "lobby")),
      .log(memberEvent(2, "rust", .memberLeft)),
      .setPosition(account: "alice", seq: 1),
      .setPosition(account: "alice", seq: 2),
      .setPosition(account: "carol", seq: 2),
      .deleteAccount(nameKey: "carol"),
      .putAccount(AccountRecord(nameKey: "bob", display: "BOB", passwordHash: Data([5]), created: created)),
    ]
  }()

  static func check(_ state: StoredState) {
    let created = Date(timeIntervalSince1970: 1_700_000_000)
    #expect(
      state.accounts == [
        AccountRecord(nameKey: "alice", display: "Alice", passwordHash: Data([1, 2]), created: created),
        AccountRecord(nameKey: "bob", display: "BOB", passwordHash: Data([5]), created: created),
      ])
    #expect(state.tokens == [TokenRecord(hash: Data([9, 9]), account: "alice", expires: created + 86_400)])
    #expect(
      state.groups == [
        GroupRecord(key: "lobby", display: "Lobby", permanent: true),
        GroupRecord(key: "rust", display: "Rust", permanent: false),
      ])
    #expect(
      state.memberships == [
        Membership(group: "gone", account: "alice", since: 5, until: 8),
        Membership(group: "lobby", account: "alice", since: 1), Membership(group: "lobby", account: "bob", since: 2),
        Membership(group: "rust", account: "alice", since: 3), Membership(group: "rust", account: "bob", since: 4, until: 7),
      ])
    #expect(state.positions == ["alice": 2])
    #expect(state.log == [message(1, "lobby"), memberEvent(2, "rust", .memberLeft)])
    #expect(state.lastSeq == 2)
  }

  @Test("every operation, in SQLite, survives a reopen")
  func sqliteContents() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory)
    // Some in one submission, the rest one by one: order is submission order either way.
    try await store.submit(Array(Self.operations.prefix(10))).committed()
    for operation in Self.operations.dropFirst(10) { _ = store.submit([operation]) }
    try await store.submit([]).committed()
    Self.check(try store.load())
    await store.close()
    let reopened = try openStore(directory)
    Self.check(try reopened.load())
    await reopened.close()
  }

  @Test("the in-memory store applies the same operations, acknowledges at once, has its own epoch")
  func memoryContents() async throws {
    let store = InMemoryStore()
    let acknowledgement = store.submit(Self.operations)
    #expect(acknowledgement.outcome.map { (try? $0.get()) != nil } == true)
    Self.check(try store.load())
    #expect(store.epoch != InMemoryStore().epoch)
    await store.close()
    #expect(store.append([message(3)]).outcome.map { (try? $0.get()) == nil } == true)
  }

  @Test("an acknowledgement wait times out, and is cancellable")
  func acknowledgementTimeout() async throws {
    let pending = Acknowledgement()
    await #expect(throws: StoreError.timedOut(.milliseconds(20))) {
      try await pending.wait(timeout: .milliseconds(20))
    }
    let waiter = Task { try await pending.wait(timeout: .seconds(30)) }
    waiter.cancel()
    await #expect(throws: CancellationError.self) { try await waiter.value }
    pending.complete(nil)
    try await pending.wait(timeout: .seconds(1))
  }

  @Test("100,000 retained rows load at startup, in order")
  func loads100k() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory) { $0.retention = Retention(messagesPerChannel: 1000, slack: 64) }
    let count = 100_000
    let payload = String(repeating: "p", count: 150)
    for start in stride(from: 1, through: count, by: 10_000) {
      try await store.append((start..<start + 10_000).map { message(UInt64($0), "g\($0 % 100)", text: payload) })
        .committed()
    }
    await store.close()

    let started = ContinuousClock.now
    let reopened = try openStore(directory) { $0.retention = Retention(messagesPerChannel: 1000, slack: 64) }
    let state = try reopened.load()
    let elapsed = ContinuousClock.now - started
    print("opened and loaded \(state.log.count) rows in \(elapsed)")
    #expect(state.log.count == count)
    #expect(state.lastSeq == UInt64(count))
    #expect(zip(state.log, state.log.dropFirst()).allSatisfy { $0.seq < $1.seq })
    #expect(state.log[4_999] == message(5_000, "g0", text: payload))
    #expect(elapsed < .seconds(20))  // debug build, shared cores: a bound, not the goal
    await reopened.close()
  }
}
