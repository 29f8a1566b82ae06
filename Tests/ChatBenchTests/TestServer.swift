import ChatBench
import ChatTestSupport

extension TestServer {
  var target: BenchTarget { BenchTarget(host: "127.0.0.1", port: port) }
}

extension CommonOptions {
  /// Short timeouts, so a broken run fails fast instead of hanging the suite.
  static var test: CommonOptions {
    var options = CommonOptions()
    options.connectTimeout = .seconds(10)
    options.setupTimeout = .seconds(10)
    options.drainTimeout = .seconds(3)
    return options
  }
}
