import ChatCore
import ChatGRPC
import ChatStore
import Foundation
import Logging

/// What the store adds to each accepted message, measured in this process
/// with no transport: the registry on `--store memory` and on the SQLite
/// store, rounds interleaved, pairs of guests sending each other direct
/// messages through `ChatRegistry` and consumers draining every session
/// (each event encoded once, as the server's writers do).
///
/// Why in process: over gRPC the transport's own run-to-run spread (±20 µs
/// per message here) is larger than the store's cost, so the difference of
/// two end-to-end runs says little. The work both sides share (the registry,
/// delivery, encoding) is the same code in both; only the store differs.
public struct StoreCostOptions: Sendable {
  public var pairs = 100
  public var messages = 100_000
  public var rounds = 5
  /// Messages per second from all senders together; nil floods.
  public var rate: Double?
  /// Which stores run (profiling one side): "memory", "sqlite".
  public var stores = ["memory", "sqlite"]
  /// Where the SQLite rounds make their data directories.
  public var directory = NSTemporaryDirectory()

  public init() {}
}

public struct StoreCostRound: Sendable, Codable {
  public var store: String
  public var messages: Int
  public var deliveries: Int
  public var cpuSeconds: Double
  public var wallSeconds: Double
  /// From `send` to its durability's end, in µs: what the store adds to SendMessage's latency.
  public var sendMicrosP50: Double
  public var sendMicrosP99: Double
  public var sendMicrosP999: Double
  public var microsecondsPerMessage: Double { cpuSeconds / Double(messages) * 1e6 }
}

public struct StoreCostReport: Sendable, Codable {
  public var rounds: [StoreCostRound]

  public func median(_ store: String) -> Double {
    ChatBench.median(rounds.filter { $0.store == store }.map(\.microsecondsPerMessage).sorted())
  }

  public func json() -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
  }

  /// A distribution-free interval holding the median of the paired
  /// differences with at least 95 % confidence: the order statistics a
  /// binomial(n, ½) count puts around it (the sign test's interval). nil
  /// below 6 pairs, where none exists.
  static func confidenceInterval(_ sorted: [Double]) -> (Double, Double)? {
    let n = sorted.count
    guard n >= 6 else { return nil }
    // P(X < k) for X ~ binomial(n, ½): the largest k with 2·P(X < k) ≤ 0.05.
    var probability = pow(0.5, Double(n))
    var below = 0.0
    var k = 0
    while true {
      below += probability
      if 2 * below > 0.05 { break }
      k += 1
      probability *= Double(n - k + 1) / Double(k)
    }
    guard k >= 1 else { return nil }
    return (sorted[k - 1], sorted[n - k])
  }

  /// The SQLite round minus the memory round before it, one per pair of rounds.
  public var pairedDifferences: [Double] {
    let memory = rounds.filter { $0.store == "memory" }
    let sqlite = rounds.filter { $0.store == "sqlite" }
    return zip(memory, sqlite).map { $1.microsecondsPerMessage - $0.microsecondsPerMessage }
  }

  public var table: String {
    var lines = [
      "| store | rounds | CPU per accepted message, median | send to OK p50 / p99 / p99.9, medians | each round's CPU |",
      "|---|---|---|---|---|",
    ]
    for store in ["memory", "sqlite"] {
      let mine = rounds.filter { $0.store == store }
      let each = mine.map { String(format: "%.2f", $0.microsecondsPerMessage) }
      let latency = [\StoreCostRound.sendMicrosP50, \.sendMicrosP99, \.sendMicrosP999].map { path in
        String(format: "%.1f", ChatBench.median(mine.map { $0[keyPath: path] }.sorted()))
      }
      lines.append(
        "| \(store) | \(each.count) | \(String(format: "%.2f", median(store))) µs | \(latency.joined(separator: " / ")) µs | \(each.joined(separator: ", ")) |"
      )
    }
    let differences = pairedDifferences.sorted()
    lines.append("")
    lines.append(
      "SQLite over memory: \(String(format: "%+.2f", median("sqlite") - median("memory"))) µs per message (medians); "
        + "paired rounds: median \(String(format: "%+.2f", ChatBench.median(differences))) µs"
        + (Self.confidenceInterval(differences).map { String(format: ", 95 %% interval [%+.2f, %+.2f]", $0.0, $0.1) } ?? "")
        + ", each " + pairedDifferences.map { String(format: "%+.2f", $0) }.joined(separator: ", "))
    return lines.joined(separator: "\n")
  }
}

extension ChatBench {
  /// The median of sorted values (nan for none).
  static func median(_ sorted: [Double]) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  }

  /// Runs `options.rounds` rounds on each store, memory first, alternating.
  public static func storeCost(_ options: StoreCostOptions) async throws -> StoreCostReport {
    var logger = Logger(label: "chat-bench.store-cost")
    logger.logLevel = .warning
    var rounds: [StoreCostRound] = []
    for _ in 0..<options.rounds {
      for useStore in [false, true] where options.stores.contains(useStore ? "sqlite" : "memory") {
        rounds.append(try await storeCostRound(options, useStore: useStore, logger: logger))
      }
    }
    return StoreCostReport(rounds: rounds)
  }

  private static func storeCostRound(
    _ options: StoreCostOptions, useStore: Bool, logger: Logger
  ) async throws -> StoreCostRound {
    var limits = RegistryLimits()
    limits.maxSessions = max(limits.maxSessions, options.pairs * 2)
    // As the spawned servers of the other benchmarks: no per-user rate limit.
    limits.rateLimit = nil
    let registry: ChatRegistry
    var store: SQLiteStore?
    var directory: String?
    if useStore {
      let path = (options.directory as NSString).appendingPathComponent("chat-store-cost-\(UUID().uuidString)")
      directory = path
      let opened = try SQLiteStore.open(
        SQLiteStore.Configuration(directory: path, retention: Retention(messagesPerChannel: limits.historyLimit)),
        logger: logger)
      store = opened
      registry = try ChatRegistry(logger: logger, limits: limits, store: opened, format: ProtobufEventEncoding.self)
    } else {
      registry = ChatRegistry(logger: logger, limits: limits)
    }
    defer {
      if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
    let sessions = try (0..<(options.pairs * 2)).map { index throws(ChatError) in
      try registry.connect(ChatName.validate("u\(index)", as: .user))
    }
    let perSender = options.messages / (options.pairs * 2)
    let messages = perSender * options.pairs * 2
    let text = String(repeating: "x", count: 64)
    let start = ProcessSample.ofSelf()
    // What a task of the round returns: a drain its deliveries, a sender how long each send took.
    enum Outcome: Sendable {
      case delivered(Int)
      case sent([Duration])
    }
    let (delivered, latencies) = try await withThrowingTaskGroup(of: Outcome.self) { group in
      for session in sessions {
        // Each sender's messages come back as echoes, its partner's arrive.
        group.addTask { .delivered(await drain(session, expecting: 2 * perSender, registry: registry)) }
      }
      let interval = options.rate.map { Double(options.pairs * 2) / $0 }
      let began = ContinuousClock.now
      for (index, session) in sessions.enumerated() {
        let partner = sessions[index ^ 1].user.display
        // Senders are spread over the interval, so the rate is steady, not one burst per interval.
        let offset = Double(index) / Double(sessions.count)
        group.addTask {
          var took: [Duration] = []
          took.reserveCapacity(perSender)
          for message in 0..<perSender {
            if let interval {
              try await Task.sleep(until: began + .seconds(interval * (Double(message) + offset)), clock: .continuous)
            }
            // From the call to its OK: what SendMessage's handler waits for.
            let sent = ContinuousClock.now
            let (_, durability) = try registry.send(text, to: .user, named: partner, from: session.caller)
            try await durability.wait()
            took.append(ContinuousClock.now - sent)
          }
          return .sent(took)
        }
      }
      // A lost delivery would leave a drain waiting: the round is bounded.
      let watchdog = Task {
        try await Task.sleep(for: .seconds(600))
        for session in sessions { registry.disconnect(session) }
      }
      defer { watchdog.cancel() }
      var count = 0
      var latencies: [Duration] = []
      while let outcome = try await group.next() {
        switch outcome {
        case .delivered(let events): count += events
        case .sent(let took): latencies += took
        }
      }
      return (count, latencies)
    }
    let end = ProcessSample.ofSelf()
    await store?.close()
    // Each message reaches its recipient and echoes to its sender.
    guard delivered == messages * 2 else {
      throw StoreCostError(message: "\(messages * 2) deliveries expected, \(delivered) arrived")
    }
    var histogram = LatencyHistogram()
    for took in latencies {
      let (seconds, attoseconds) = took.components
      histogram.record(UInt64(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }
    func percentile(_ percent: Double) -> Double { Double(histogram.valueAtPercentile(percent)) }
    return StoreCostRound(
      store: useStore ? "sqlite" : "memory", messages: messages, deliveries: delivered,
      cpuSeconds: end.cpuSeconds - start.cpuSeconds, wallSeconds: BenchClock.seconds(from: start.takenAt, to: end.takenAt),
      sendMicrosP50: percentile(50), sendMicrosP99: percentile(99), sendMicrosP999: percentile(99.9))
  }

  /// Writes a session's events as a Connect handler does (each encoded once,
  /// then recorded as written) until it got `expecting` events past
  /// Welcome, then ends the session; returns how many it got.
  private static func drain(_ session: Session, expecting: Int, registry: ChatRegistry) async -> Int {
    var count = -1
    while count < expecting {
      switch await session.queue.next() {
      case .events(let batch):
        for event in batch { _ = event.encoded(as: ProtobufEventEncoding.self) }
        registry.recordWritten(batch, to: session)
        count += batch.count
      case .ended:
        return max(count, 0)
      }
    }
    registry.disconnect(session)
    return count
  }
}

struct StoreCostError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}
