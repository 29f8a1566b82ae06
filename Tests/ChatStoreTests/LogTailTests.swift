import Foundation
import Testing

@testable import ChatStore

@Suite("Stores: the log's tail at startup, and pages of it")
struct LogTailTests {
  /// Three channels of different lengths, member events among the messages.
  static let records: [LogRecord] = {
    var records: [LogRecord] = []
    var seq: UInt64 = 0
    for round in 0..<30 {
      for channel in ["a", "b", "c"] where channel != "c" || round < 2 {
        seq += 1
        records.append(round % 4 == 3 ? memberEvent(seq, channel, .memberJoined) : message(seq, channel))
      }
    }
    return records
  }()

  @Test("loadTail reads each channel's newest N records (and one more when there are older ones), grouped by channel in seq order; SQLite matches the reference")
  func tail() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let sqlite = try openStore(directory) { $0.retention = Retention(messagesPerChannel: 1000, slack: 0) }
    let memory = InMemoryStore()
    try await sqlite.append(Self.records).committed()
    try await memory.append(Self.records).committed()
    for store in [sqlite as any Store, memory] {
      let tail = try store.loadTail(eventsPerChannel: 4)
      let byChannel = Dictionary(grouping: tail.log, by: \.channel)
      for (channel, all) in Dictionary(grouping: Self.records, by: \.channel) {
        #expect(byChannel[channel] == Array(all.suffix(5)), "\(type(of: store)) \(channel)")
      }
      #expect(tail.lastSeq == Self.records.last!.seq)
      // Grouped by channel, ascending within each.
      var seen: [String] = []
      for record in tail.log where seen.last != record.channel {
        #expect(!seen.contains(record.channel))
        seen.append(record.channel)
      }
    }
    await sqlite.close()
  }

  @Test("readLog pages a channel both ways within (after, before), keeping only what retention's rule keeps even before pruning; SQLite matches the reference")
  func pages() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    // Slack: SQLite still holds rows that the rule no longer retains.
    let sqlite = try openStore(directory) { $0.retention = Retention(messagesPerChannel: 8, slack: 64) }
    let memory = InMemoryStore(retention: Retention(messagesPerChannel: 8, slack: 64))
    try await sqlite.append(Self.records).committed()
    try await memory.append(Self.records).committed()
    let a = Self.records.filter { $0.channel == "a" }
    // The newest 8 messages and the member events since the oldest of them.
    let cut = a.filter { $0.kind == .message }.suffix(8).first!.seq
    let retained = a.filter { $0.seq >= cut }
    for store in [sqlite as any Store, memory] {
      let name = "\(type(of: store))"
      let newest = try await store.readLog("a", after: 0, before: .max, newestFirst: true, limit: 3, messagesPerChannel: 8)
      #expect(newest.records == Array(retained.reversed().prefix(3)), "\(name)")
      #expect(newest.retainedAfter == cut - 1, "\(name)")
      let all = try await store.readLog("a", after: 0, before: .max, newestFirst: false, limit: 100, messagesPerChannel: 8)
      #expect(all.records == retained, "\(name)")
      let middle = try await store.readLog(
        "a", after: retained[2].seq, before: retained[6].seq, newestFirst: false, limit: 100, messagesPerChannel: 8)
      #expect(middle.records == Array(retained[3..<6]), "\(name)")
      let short = try await store.readLog("c", after: 0, before: .max, newestFirst: true, limit: 10, messagesPerChannel: 8)
      #expect(short.records == Self.records.filter { $0.channel == "c" }.reversed(), "\(name)")
      #expect(short.retainedAfter == 0, "\(name)")
      let none = try await store.readLog("nope", after: 0, before: .max, newestFirst: true, limit: 10, messagesPerChannel: 8)
      #expect(none.records.isEmpty, "\(name)")
    }
    // More messages move the cut (SQLite keeps it per channel while the
    // channel's newest message is the same); then the channel goes.
    let more = (1...3).map { message(Self.records.last!.seq + UInt64($0), "a") }
    try await sqlite.append(more).committed()
    try await memory.append(more).committed()
    let newCut = (a + more).filter { $0.kind == .message }.suffix(8).first!.seq
    for store in [sqlite as any Store, memory] {
      let all = try await store.readLog("a", after: 0, before: .max, newestFirst: false, limit: 100, messagesPerChannel: 8)
      #expect(all.records == (a + more).filter { $0.seq >= newCut }, "\(type(of: store))")
      #expect(all.retainedAfter == newCut - 1, "\(type(of: store))")
    }
    try await sqlite.submit([.deleteChannel("a")]).committed()
    try await memory.submit([.deleteChannel("a")]).committed()
    let again = [message(Self.records.last!.seq + 10, "a")]
    try await sqlite.append(again).committed()
    try await memory.append(again).committed()
    for store in [sqlite as any Store, memory] {
      let all = try await store.readLog("a", after: 0, before: .max, newestFirst: false, limit: 100, messagesPerChannel: 8)
      #expect(all.records == again && all.retainedAfter == 0, "\(type(of: store))")
    }
    await sqlite.close()
  }

  @Test("readLog reads what is committed while the writer fails, and fails closed once the store is closed")
  func readsWhileWritesFail() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory) { $0.retryInterval = .seconds(60) }
    try await store.append([message(1), message(2)]).committed()
    store.log.setLimit(store.statistics.logBytes + 1000)
    let big = (3...200).map { message(UInt64($0), text: String(repeating: "x", count: 4000)) }
    await #expect(throws: StoreError.self) { try await store.append(big).committed() }
    let page = try await store.readLog("g", after: 0, before: .max, newestFirst: true, limit: 10, messagesPerChannel: 10)
    #expect(page.records == [message(2), message(1)])
    await store.close()
    await #expect(throws: StoreError.closed) {
      _ = try await store.readLog("g", after: 0, before: .max, newestFirst: true, limit: 10, messagesPerChannel: 10)
    }
  }
}
