import GRPCCore

/// How long to wait before each attempt to reconnect: 0.5 s, doubling up to 15 s, each wait
/// drawn from its upper three quarters so that clients dropped together do not return together.
public struct ReconnectBackoff: Sendable, Equatable {
  public var initial: Duration
  public var maximum: Duration
  /// The share of each wait that is random: 0.25 draws it from [0.75·base, base].
  public var jitter: Double

  public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(15), jitter: Double = 0.25) {
    precondition(initial > .zero && maximum >= initial && (0...1).contains(jitter))
    self.initial = initial
    self.maximum = maximum
    self.jitter = jitter
  }

  /// The wait before attempt `attempt` (0 for the first reconnect) without jitter.
  public func base(forAttempt attempt: Int) -> Duration {
    var wait = initial
    for _ in 0..<max(0, attempt) {
      wait *= 2
      if wait >= maximum { return maximum }
    }
    return min(wait, maximum)
  }

  /// The wait before attempt `attempt`; `random` in 0..<1 (tests pass their own).
  public func delay(forAttempt attempt: Int, random: Double = Double.random(in: 0..<1)) -> Duration {
    base(forAttempt: attempt) * (1 - jitter * random)
  }

  /// UNAVAILABLE (the server went away or is restarting) and failures that are not statuses
  /// (the connection broke) are worth another try; a status the server chose (kicked, signed
  /// out, too slow) is not, and neither is a stream closed without an error.
  public static func isReconnectable(_ error: (any Error)?) -> Bool {
    guard let error else { return false }
    guard let rpcError = error as? RPCError else { return !(error is CancellationError) }
    return rpcError.code == .unavailable
  }
}
