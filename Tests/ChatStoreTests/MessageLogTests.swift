import Foundation
import GRDB
import Testing

@testable import ChatStore

@Suite("SQLite store: the message log's segment files")
struct MessageLogTests {
  private func segments(_ directory: TemporaryDirectory) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.data + "/log").filter { $0.hasSuffix(".log") }.sorted()
  }

  @Test("a torn record at the end of the last segment is cut off at startup; what came before is kept and the log goes on")
  func tornTail() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let (logger, logs) = testLogger()
    let store = try openStore(directory)
    try await store.append((1...10).map { message($0) }).committed()
    await store.close()
    let path = directory.data + "/log/" + (try segments(directory).last!)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    let size = try handle.seekToEnd()
    #expect(size > UInt64(LogFrame.segmentHeaderSize))
    // Half of a record: what a write cut short by a crash leaves.
    var torn = [UInt8]()
    LogFrame.append(seq: 11, kind: 1, time: 0, channel: "g", payload: Array("eleven".utf8), to: &torn)
    try handle.write(contentsOf: torn.prefix(torn.count / 2))
    try handle.close()

    let reopened = try openStore(directory, logger: logger)
    #expect(try reopened.load().log.map(\.seq) == Array(1...10))
    #expect(logs.entries.contains { $0.level == .warning && $0.message.description.contains("torn record") })
    try await reopened.append([message(11)]).committed()
    await reopened.close()
    let again = try openStore(directory)
    #expect(try again.load().log.map(\.seq) == Array(1...11))
    await again.close()
  }

  @Test("a damaged record in a segment before the last refuses to start and leaves the file as it was")
  func damagedEarlierSegment() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory) { $0.segmentBytes = 4096 }
    for seq in 1...40 { try await store.append([message(UInt64(seq), text: String(repeating: "y", count: 300))]).committed() }
    await store.close()
    let names = try segments(directory)
    #expect(names.count > 2)
    let path = directory.data + "/log/" + names[0]
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    bytes[LogFrame.segmentHeaderSize + 40] ^= 0xFF
    try bytes.write(to: URL(fileURLWithPath: path))
    let error = storeError { _ = try openStore(directory) { $0.segmentBytes = 4096 } }
    guard case .corrupt(let refused, let detail) = error else {
      Issue.record("expected a refusal, got \(String(describing: error))")
      return
    }
    #expect(refused == path)
    #expect(detail.contains("checksum"), "\(detail)")
    #expect(error?.message.contains("left untouched") == true)
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
  }

  @Test("a segment of another store is refused")
  func foreignSegment() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory)
    try await store.append([message(1)]).committed()
    await store.close()
    let path = directory.data + "/log/" + (try segments(directory)[0])
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    bytes[LogFrame.magic.count] = bytes[LogFrame.magic.count] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
    try bytes.write(to: URL(fileURLWithPath: path))
    let error = storeError { _ = try openStore(directory) }
    guard case .foreign(let refused, let detail) = error else {
      Issue.record("expected a refusal, got \(String(describing: error))")
      return
    }
    #expect(refused == path)
    #expect(detail.contains("another store"))
  }

  @Test("segments rotate; a closed segment that retention left mostly dead is compacted away, keeping what is live")
  func compaction() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let retention = Retention(messagesPerChannel: 5, slack: 0)
    let store = try openStore(directory) {
      $0.segmentBytes = 8192
      $0.retention = retention
    }
    let memory = InMemoryStore(retention: retention)
    // A quiet channel whose records stay live, and a busy one retention trims.
    let quiet = [message(1, "quiet"), message(2, "quiet")]
    try await store.append(quiet).committed()
    try await memory.append(quiet).committed()
    for seq in 3...400 {
      let record = message(UInt64(seq), "busy", text: String(repeating: "z", count: 200))
      try await store.append([record]).committed()
      try await memory.append([record]).committed()
    }
    // Compaction runs in the background, one segment after another, each
    // synced (slow on a busy disk): once it has settled, the dead segments
    // are gone (about one segment of live bytes and the one being written
    // stay, not all 400 records).
    try await store.log.compactionsSettled(within: .seconds(60))
    #expect(store.statistics.logBytes < 3 * 8192, "\(store.statistics)")
    #expect(try !segments(directory).contains(LogSegment.fileName(1)))
    #expect(store.statistics.compactions > 5)
    #expect(try store.load().log == memory.load().log)
    await store.close()
    let reopened = try openStore(directory) {
      $0.segmentBytes = 8192
      $0.retention = retention
    }
    #expect(try reopened.load().log == memory.load().log)
    await reopened.close()
  }

  @Test(
    "records are indexed in batches: reads, retention and a reopen see every record, before and across a batch",
    arguments: [7, MessageLog.indexBatch + 300, 2 * MessageLog.indexBatch + 1])
  func batchedIndex(records count: Int) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let retention = Retention(messagesPerChannel: 50, slack: 8)
    let store = try openStore(directory) { $0.retention = retention }
    let memory = InMemoryStore(retention: retention)
    let channels = ["a", "b", "c"]
    var written: [LogRecord] = []
    for chunk in stride(from: 1, through: count, by: 500) {
      let records = (chunk...min(chunk + 499, count)).map { message(UInt64($0), channels[$0 % 3]) }
      try await store.append(records).committed()
      try await memory.append(records).committed()
      written += records
      // Read at once, whatever waits to be indexed: the newest page of a channel.
      let newest = try await store.readLog(
        "a", after: 0, before: .max, newestFirst: true, limit: 3, messagesPerChannel: retention.messagesPerChannel)
      #expect(newest.records.map(\.seq) == written.filter { $0.channel == "a" }.suffix(3).reversed().map(\.seq))
    }
    #expect(try store.load().log == memory.load().log)
    #expect(store.statistics.logRecords == count)
    await store.close()
    // Opening trims each channel to exactly its quota (no slack).
    let retained = try memory.load().log.filter { record in
      written.filter { $0.channel == record.channel }.suffix(retention.messagesPerChannel).contains(record)
    }
    let reopened = try openStore(directory) { $0.retention = retention }
    #expect(try reopened.load().log == retained)
    await reopened.close()
  }

  @Test("a record that straddles two windows of the segment's mapping is written whole, and read back whole after a reopen")
  func straddlingRecord() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory)
    let records = (1...1_100).map { message(UInt64($0), "g\($0 % 10)", text: String(repeating: "s", count: 1_000)) }
    // Frames of one length, laid back to back after the header: one of them crosses the first window's end.
    let length = LogFrame.frameLength(channelBytes: 2, payloadBytes: 1_000)
    #expect((LogSegment.windowSize - LogFrame.segmentHeaderSize) % length != 0)
    #expect(LogFrame.segmentHeaderSize + records.count * length > LogSegment.windowSize)
    for record in records { try await store.append([record]).committed() }
    #expect(try store.load().log == records)
    await store.close()
    let reopened = try openStore(directory)
    #expect(try reopened.load().log == records)
    await reopened.close()
  }

  @Test("a deleted channel stays deleted across a reopen and compaction; a new channel of the same key starts empty")
  func deletedChannel() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory) { $0.segmentBytes = 4096 }
    try await store.append((1...20).map { message($0, "gone", text: String(repeating: "q", count: 100)) }).committed()
    try await store.submit([.deleteChannel("gone")]).committed()
    try await store.append([message(21, "gone")]).committed()
    for seq in 22...120 {
      try await store.append([message(UInt64(seq), "other", text: String(repeating: "w", count: 100))]).committed()
    }
    #expect(try store.load().log.filter { $0.channel == "gone" }.map(\.seq) == [21])
    await store.close()
    let reopened = try openStore(directory) { $0.segmentBytes = 4096 }
    #expect(try reopened.load().log.filter { $0.channel == "gone" }.map(\.seq) == [21])
    #expect(try reopened.load().log.filter { $0.channel == "other" }.count == 99)
    await reopened.close()
  }

  @Test("a store from before the message log has its rows moved to segment files when opened, once")
  func movesLegacyRows() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try openStore(directory)
    // What an older server left: rows in table `log` (enough to take pages).
    let expected = (1...50).map { message(UInt64($0), "g\($0 % 3)") }
      + (51...100).map { message(UInt64($0), "big", text: String(repeating: "b", count: 4000)) }
    try await store.runOnWriter { db in
      for record in expected {
        try db.execute(
          sql: "INSERT INTO log (seq, channel, kind, time, payload) VALUES (?, ?, 1, ?, ?)",
          arguments: [Int64(record.seq), record.channel, microseconds(record.time), record.payload])
      }
    }.committed()
    await store.close()
    let databaseSize = { try FileManager.default.attributesOfItem(atPath: directory.data + "/chat.sqlite")[.size] as? Int ?? 0 }
    let before = try databaseSize()
    let (logger, logs) = testLogger()
    let reopened = try openStore(directory, logger: logger)
    #expect(try reopened.load().log == expected)
    #expect(logs.entries.contains { $0.message.description.contains("moved out of SQLite") })
    let rows = try await reopened.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM log") }
    #expect(rows == 0)
    // The rows' space went back to the file system (VACUUM).
    #expect(try databaseSize() < before, "\(before) bytes before")
    try await reopened.append([message(101)]).committed()
    await reopened.close()
    let again = try openStore(directory)
    #expect(try again.load().log == expected + [message(101)])
    await again.close()
  }
}
