import ChatBench
import ChatTestSupport

extension TestServer {
  var target: BenchTarget { BenchTarget(host: "127.0.0.1", port: port) }
}

extension CommonOptions {
  /// Bounded timeouts, so a broken run fails instead of hanging the suite,
  /// but generous ones: the whole suite runs in one process, and while the
  /// churn test's 20,000 connections hold NIO's and Swift's threads, 20
  /// sessions took 3 s each to reach Welcome (a debug build: 10 s was too
  /// short for the last 2 of them), and a sender's task can start after a
  /// 300 ms sending phase has ended (the scenarios send for 2 s).
  static var test: CommonOptions {
    var options = CommonOptions()
    options.connectTimeout = .seconds(30)
    options.setupTimeout = .seconds(30)
    options.drainTimeout = .seconds(10)
    return options
  }
}
