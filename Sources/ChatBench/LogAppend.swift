import ChatStore
import Foundation
import Logging

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What one append to the SQLite store's message log costs when the CPU's
/// caches are cold: `submit` of one record (written on the caller's thread,
/// as a SendMessage's is), with a buffer of `evictBytes` rewritten before
/// every other append, the way a server's other work (the transport, the
/// registry) evicts the store's lines between two messages that come a few
/// hundred µs apart. The appends in between run right after one, warmer.
///
/// Why: end to end, a run's spread (±10 µs per message) hides the store's
/// few µs, and `store-cost` floods, where one write carries many messages
/// and the store's lines stay warm. This measures one write's own time,
/// repeatably (±5 % between runs here), for A/B of the write path.
public struct LogAppendOptions: Sendable {
  public var appends = 40_000
  /// Records go to this many channels in turn (pairs' direct channels).
  public var channels = 100
  public var payloadBytes = 150
  public var evictBytes = 4 << 20
  /// Where the store's data directory is made.
  public var directory = NSTemporaryDirectory()

  public init() {}
}

public struct LogAppendReport: Sendable, Codable {
  /// Nanoseconds per append, after the first tenth (warm-up).
  public var coldNanoseconds: [UInt64]
  public var warmNanoseconds: [UInt64]

  public var table: String {
    func row(_ name: String, _ values: [UInt64]) -> String {
      let sorted = values.sorted().map { Double($0) / 1000 }
      let mean = sorted.reduce(0, +) / Double(max(sorted.count, 1))
      let p50 = ChatBench.median(sorted)
      let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
      return "| \(name) | \(values.count) | \(format(p50)) | \(format(mean)) | \(format(p99)) |"
    }
    return [
      "| append | count | median µs | mean µs | p99 µs |",
      "|---|---|---|---|---|",
      row("cold (caches evicted before it)", coldNanoseconds),
      row("warm (right after one)", warmNanoseconds),
    ].joined(separator: "\n")
  }

  private func format(_ value: Double) -> String { String(format: "%.3f", value) }
}

extension ChatBench {
  public static func logAppend(_ options: LogAppendOptions) async throws -> LogAppendReport {
    let directory = options.directory + "/chat-bench-log-append-\(getpid())-\(UInt32.random(in: 0 ... .max))"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try SQLiteStore.open(
      SQLiteStore.Configuration(directory: directory), logger: Logger(label: "chat-bench") { _ in SwiftLogNoOpLogHandler() })
    let payload = [UInt8](repeating: UInt8(ascii: "m"), count: options.payloadBytes)
    let channels = (0..<options.channels).map { "user-\($0)\u{0}user-\($0 + options.channels)" }
    var evicted = [UInt8](repeating: 0, count: options.evictBytes)
    var report = LogAppendReport(coldNanoseconds: [], warmNanoseconds: [])
    let warmUp = options.appends / 10
    for index in 0..<options.appends {
      let cold = index % 2 == 0
      if cold {
        // One write per cache line, offset each time so no line stays as it was.
        evicted.withUnsafeMutableBufferPointer { bytes in
          var line = index & 63
          while line < bytes.count {
            bytes[line] &+= 1
            line += 64
          }
        }
      }
      let record = LogRecord(
        seq: UInt64(index + 1), channel: channels[index % channels.count], kind: .message, time: Date(),
        payloadBytes: payload)
      let start = BenchClock.now()
      let acknowledgement = store.submit([.log(record)])
      let nanoseconds = BenchClock.now() - start
      // Written on this thread: already complete.
      try await acknowledgement.wait(timeout: .seconds(10))
      guard index >= warmUp else { continue }
      if cold { report.coldNanoseconds.append(nanoseconds) } else { report.warmNanoseconds.append(nanoseconds) }
    }
    await store.close()
    return report
  }
}
