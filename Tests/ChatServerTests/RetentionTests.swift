import ChatAPI
import Foundation
import Testing

@testable import ChatCore

@Suite("Retention of the in-memory log")
struct RetentionTests {
  @Test("a channel keeps its newest --history-limit messages; a catch-up reaching past them replays nothing")
  func retention() async throws {
    let h = RegistryHarness {
      $0.historyLimit = 3
      $0.maxReplay = 1000
    }
    let registry = h.registry
    let token = TokenHash([42])
    _ = try registry.signUp(
      ChatName.validate("ivy", as: .user), passwordHash: Data([1]), token: token, expires: Date().addingTimeInterval(60))
    let ivy = try registry.authenticate(token: token, charge: false)
    let session = try registry.connect(token: token, requested: "", resume: nil)
    try registry.createGroup("log", by: ivy)
    while case .events(let batch)? = session.queue.takeReady() { registry.recordWritten(batch, to: session) }
    registry.disconnect(session)
    for index in 1...70 { try registry.send("m\(index)", to: .group, named: "log", from: ivy) }
    let page = try await registry.history(.group, named: "log", before: 0, after: 0, limit: 100, by: ivy)
    #expect(page.events.compactMap { event -> String? in
      if case .message(let message) = event.event.kind { return message.text }
      return nil
    } == ["m70", "m69", "m68"])
    #expect(!page.hasMore)
    let back = try registry.connect(token: token, requested: "", resume: nil)
    guard case .events(let batch)? = back.queue.takeReady(), case .welcome(let welcome) = batch.first?.event.kind else {
      Issue.record("no Welcome")
      return
    }
    #expect(!welcome.recovered)
    #expect(batch.count == 1)
  }

  @Test("what no one can read any more is forgotten: guests' direct messages once both are gone, a guests-only group once deleted")
  func forgetting() throws {
    let h = RegistryHarness()
    let registry = h.registry
    let xena = try h.connect("xena")
    let yuri = try h.connect("yuri")
    try registry.send("hi", to: Chat_V1_Channel("yuri", .user), from: "xena")
    try registry.createGroup("tmp", by: "xena")
    try registry.send("in tmp", to: Chat_V1_Channel("tmp", .group), from: "xena")
    #expect(registry.retainedChannels == 2)
    try registry.leaveGroup("tmp", by: "xena")
    #expect(registry.retainedChannels == 1)
    registry.disconnect(xena)
    // yuri can still read the conversation.
    #expect(registry.retainedChannels == 1)
    registry.disconnect(yuri)
    #expect(registry.retainedChannels == 0)
  }
}
