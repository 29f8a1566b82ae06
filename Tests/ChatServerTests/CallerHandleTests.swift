import ChatAPI
import Foundation
import Testing

@testable import ChatCore
@testable import ChatGRPC

/// Calls act for one session, found once by authentication.
@Suite("Caller handles")
struct CallerHandleTests {
  let h = RegistryHarness()
  var registry: ChatRegistry { h.registry }

  @Test("a caller whose session ended cannot act for a newer session that took the same name")
  func staleCaller() throws {
    let first = try h.connect("alice")
    let stale = try registry.caller("alice")
    registry.disconnect(first)
    let second = try h.connect("Alice")
    #expect(throws: ChatError.sessionEnded("alice")) { try registry.createGroup("g", by: stale) }
    #expect(throws: ChatError.sessionEnded("alice")) { try registry.send("hi", to: .user, named: "alice", from: stale) }
    #expect(ChatError.sessionEnded("alice").rpcErrorCode == .unauthenticated)
    #expect(try events(second).isEmpty)
    try registry.createGroup("g", by: registry.caller("alice"))
    #expect(try events(second).map(\.memberJoined.username) == ["Alice"])
  }

  @Test("calls made while the server shuts down are UNAVAILABLE, not UNAUTHENTICATED")
  func callsDuringShutdown() throws {
    let alice = try h.connect("alice")
    let caller = try registry.caller("alice")
    registry.shutdown()
    #expect(ending(alice) == .shutdown)
    #expect(throws: ChatError.shuttingDown) { try registry.authenticate("alice", mode: .username, charge: false) }
    #expect(throws: ChatError.shuttingDown) { try registry.createGroup("g", by: caller) }
    #expect(throws: ChatError.shuttingDown) { try registry.connect(ChatName("bob")!) }
    #expect(ChatError.shuttingDown.rpcErrorCode == .unavailable)
  }

  @Test("a rate-limit bucket given an instant older than its last refill takes no time back")
  func bucketClockGoesBackwards() {
    let limit = RateLimit(perSecond: 1, burst: 2)
    let start = ContinuousClock.now
    var bucket = TokenBucket(limit, now: start)
    #expect(bucket.take(limit, now: start + .seconds(10)) == nil)
    // Read before the call above, applied after it (two calls racing to the lock).
    #expect(bucket.take(limit, now: start + .seconds(9)) == nil)
    #expect(bucket.take(limit, now: start + .seconds(10)) != nil)
  }

  @Test("a group message is one shared event for every member, encoded once per wire format")
  func encodedOnce() throws {
    let sessions = try ["a", "b", "c"].map { try h.connect($0) }
    try registry.createGroup("g", by: "a")
    try registry.joinGroup("g", by: "b")
    try registry.joinGroup("g", by: "c")
    for session in sessions { _ = session.queue.takeReady() }
    try registry.send("hello", to: RegistryHarness.group("g"), from: "b")
    let received = sessions.compactMap { session -> SharedEvent? in
      guard case .events(let batch)? = session.queue.takeReady() else { return nil }
      return batch.first
    }
    #expect(received.count == 3)
    #expect(received.allSatisfy { $0 === received[0] })
    let event = received[0]
    let first = event.encoded(as: CountingEncoding.self)
    for _ in 0..<10 { #expect(event.encoded(as: CountingEncoding.self) == first) }
    #expect(CountingEncoding.calls.load(ordering: .relaxed) == 1)
    #expect(try Chat_V1_Event(serializedBytes: event.encoded(as: ProtobufEventEncoding.self)).message.text == "hello")
  }
}

import Synchronization

/// Counts how often it encodes.
private enum CountingEncoding: EventEncoding {
  static let calls = Atomic(0)
  static func encode(_ event: ChatEvent) -> [UInt8] {
    calls.add(1, ordering: .relaxed)
    return Array("\(event.kind)".utf8)
  }
}
