import Foundation
import Testing

@testable import ChatBench

@Suite("store-cost: the registry on each store, in process")
struct StoreCostTests {
  @Test("a round on each store delivers every message twice (recipient and echo) and counts its CPU")
  func rounds() async throws {
    var options = StoreCostOptions()
    options.pairs = 3
    options.messages = 60
    options.rounds = 1
    let report = try await ChatBench.storeCost(options)
    #expect(report.rounds.map(\.store) == ["memory", "sqlite"])
    for round in report.rounds {
      #expect(round.messages == 60)
      #expect(round.deliveries == 120)
      #expect(round.cpuSeconds > 0)
    }
    #expect(report.pairedDifferences.count == 1)
  }

  @Test(
    "the median's interval is the sign test's order statistics",
    arguments: [
      // n, and the 1-based order statistics of the ≥ 95 % interval.
      (6, 1, 6), (10, 2, 9), (20, 6, 15), (30, 10, 21),
    ])
  func interval(_ count: Int, _ low: Int, _ high: Int) throws {
    let sorted = (1...count).map(Double.init)
    let interval = try #require(StoreCostReport.confidenceInterval(sorted))
    #expect(interval.0 == Double(low))
    #expect(interval.1 == Double(high))
  }

  @Test("no interval below 6 pairs")
  func tooFew() {
    #expect(StoreCostReport.confidenceInterval([1, 2, 3, 4, 5]) == nil)
  }
}

@Suite("log-append: one message-log append, in process")
struct LogAppendTests {
  @Test("every append after the warm-up is timed, every other one cold")
  func counts() async throws {
    var options = LogAppendOptions()
    options.appends = 200
    options.evictBytes = 1 << 16
    let report = try await ChatBench.logAppend(options)
    #expect(report.coldNanoseconds.count == 90)
    #expect(report.warmNanoseconds.count == 90)
    #expect(report.coldNanoseconds.allSatisfy { $0 > 0 })
    #expect(report.table.contains("| cold (caches evicted before it) | 90 |"))
  }
}
