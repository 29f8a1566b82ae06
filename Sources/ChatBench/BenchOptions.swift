/// Settings every scenario shares.
public struct CommonOptions: Sendable {
  /// At most this many sessions connecting at once: below the 128-connection
  /// accept backlog NIO listens with, so a connect storm measures the server
  /// rather than the kernel's SYN retransmission timer.
  public var connectConcurrency = 100
  /// How long all sessions may take to reach Welcome.
  public var connectTimeout: Duration = .seconds(120)
  /// How long setup (group joins and their events) may take.
  public var setupTimeout: Duration = .seconds(120)
  /// After sending stops, how long deliveries may stall before the rest counts as lost.
  public var drainTimeout: Duration = .seconds(10)

  public init() {}
}

/// How the senders of `fanout` and `direct` send.
public struct SendingOptions: Sendable {
  public var duration: Duration = .seconds(10)
  /// Messages per second from all senders together; nil: as fast as the server accepts.
  public var rate: Double?
  /// Flooding: calls each sender keeps in flight.
  public var inFlight = 1
  public var messageBytes = 64

  public init() {}

  /// One schedule per sender, starting now.
  func schedules(senders: Int) -> [SendSchedule] {
    SendSchedule.plan(
      rate: rate, senders: senders, duration: duration, inFlight: inFlight, messageBytes: messageBytes,
      startAt: BenchClock.now())
  }

  /// The report's parameters for these settings.
  var parameters: [(String, String)] {
    [
      ("duration", "\(duration.seconds)s"), ("rate", rate.map { "\($0)/s" } ?? "flood"),
      ("in-flight", "\(inFlight)"), ("message-bytes", "\(messageBytes)"),
    ]
  }
}

/// `fanout`: members in one group, senders posting to it.
public struct FanoutOptions: Sendable {
  public var members = 1000
  /// nil: one connection per member.
  public var connections: Int?
  public var senders = 4
  public var sending = SendingOptions()
  public var common = CommonOptions()

  public init() {}
}

/// `sessions`: sessions connected, welcomed, then held.
public struct SessionsOptions: Sendable {
  public var sessions = 10_000
  /// nil: one connection per session.
  public var connections: Int?
  public var hold: Duration = .seconds(5)
  public var common = CommonOptions()

  public init() {}
}

/// `direct`: pairs of users sending each other direct messages.
public struct DirectOptions: Sendable {
  public var pairs = 100
  /// nil: one connection per user.
  public var connections: Int?
  public var sending = SendingOptions()
  public var common = CommonOptions()

  public init() {}
}

/// Names unique to one run, so runs against a long-lived server never collide.
struct RunNames {
  let id = String(UInt32.random(in: 0...UInt32.max), radix: 36)

  func user(_ index: Int) -> String { "b\(id)-\(index)" }
  var group: String { "bench-\(id)" }
}

extension Duration {
  var seconds: Double {
    Double(components.seconds) + Double(components.attoseconds) / 1e18
  }
}
