import ChatStore
import Foundation
import InMemoryLogging
import Logging

/// A fresh directory under the temporary directory, removed by `remove()`.
struct TemporaryDirectory {
  let path: String

  init() throws {
    path = FileManager.default.temporaryDirectory
      .appendingPathComponent("chat-store-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  /// The data directory the tests open: not created yet, so the store makes it.
  var data: String { path + "/data" }

  func remove() { try? FileManager.default.removeItem(atPath: path) }
}

func testLogger() -> (Logger, InMemoryLogHandler) {
  let handler = InMemoryLogHandler()
  return (Logger(label: "store-test") { _ in handler }, handler)
}

func message(_ seq: UInt64, _ channel: String = "g", text: String? = nil) -> LogRecord {
  LogRecord(
    seq: seq, channel: channel, kind: .message, time: Date(timeIntervalSince1970: 1_700_000_000 + Double(seq)),
    payload: Data((text ?? "message \(seq)").utf8))
}

func memberEvent(_ seq: UInt64, _ channel: String, _ kind: LogRecord.Kind) -> LogRecord {
  LogRecord(seq: seq, channel: channel, kind: kind, time: Date(timeIntervalSince1970: 1_700_000_000), payload: Data([1]))
}

func openStore(
  _ directory: TemporaryDirectory, logger: Logger = testLogger().0,
  _ configure: (inout SQLiteStore.Configuration) -> Void = { _ in }
) throws -> SQLiteStore {
  var configuration = SQLiteStore.Configuration(directory: directory.data)
  configure(&configuration)
  return try SQLiteStore.open(configuration, logger: logger)
}

extension Acknowledgement {
  /// Waits with the tests' usual deadline.
  func committed() async throws { try await wait(timeout: .seconds(10)) }
}

/// The error `body` throws, if it is a `StoreError`.
func storeError(_ body: () throws -> Void) -> StoreError? {
  do {
    try body()
    return nil
  } catch {
    return error as? StoreError
  }
}

/// An operation SQLite's writer commits (not the message log's).
func position(_ index: UInt64) -> StoreOperation {
  .setPosition(account: "a\(index)", seq: index)
}

func account(_ index: UInt64, hashBytes: Int = 16) -> StoreOperation {
  .putAccount(
    AccountRecord(
      nameKey: "a\(index)", display: "A\(index)", passwordHash: Data(repeating: 7, count: hashBytes),
      created: Date(timeIntervalSince1970: 1_700_000_000)))
}
