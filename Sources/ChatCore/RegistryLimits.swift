/// The registry's limits; each is a `chat-server` flag.
public struct RegistryLimits: Sendable, Equatable {
  /// Connect past this many sessions is RESOURCE_EXHAUSTED.
  public var maxSessions = 100_000
  /// CreateGroupChat past this many groups is RESOURCE_EXHAUSTED.
  public var maxGroups = 100_000
  /// Creating or joining past this many groups per user is RESOURCE_EXHAUSTED.
  public var maxGroupsPerUser = 1_000
  /// A session whose unsent events pass this many bytes is ended (slow consumer).
  public var maxQueueBytes = 1 << 20
  /// Calls that change state, per user; nil turns limiting off.
  public var rateLimit: RateLimit? = RateLimit(perSecond: 20, burst: 50)
  /// Sessions one account may hold at once; past it Connect is RESOURCE_EXHAUSTED.
  public var maxSessionsPerUser = 10
  /// Messages kept per channel, with their member events (`--history-limit`).
  public var historyLimit = 1000
  /// A Connect that missed more events than this replays none (`recovered` false).
  public var maxReplay = 1000
  /// How long an account's token is valid (`--token-ttl`).
  public var tokenLifetime: Duration = .seconds(30 * 86_400)
  /// How long an account without sessions still counts as online
  /// (`--presence-grace`): a reconnect within it announces nothing.
  public var presenceGrace: Duration = .seconds(5)

  public init() {}
}

/// A token bucket: `burst` tokens at most, refilled at `perSecond`; each
/// limited call takes one.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
  public var perSecond: Double
  public var burst: Double

  public init(perSecond: Double, burst: Double) {
    self.perSecond = perSecond
    self.burst = burst
  }

  /// Parses `RATE/BURST` (e.g. `20/50`); nil for `off`. Throws a message for anything else.
  public static func parse(_ text: String) throws(RateLimitSyntaxError) -> RateLimit? {
    if text.lowercased() == "off" { return nil }
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let rate = Double(parts[0]), let burst = Double(parts[1]),
      rate > 0, rate.isFinite, burst >= 1, burst.isFinite
    else { throw RateLimitSyntaxError(text: text) }
    return RateLimit(perSecond: rate, burst: burst)
  }

  public var description: String {
    "\(Self.format(perSecond)) calls per second with bursts of \(Self.format(burst))"
  }

  private static func format(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
  }
}

public struct RateLimitSyntaxError: Error, CustomStringConvertible {
  public let text: String
  public var description: String {
    "rate limit '\(text)' is not RATE/BURST (e.g. 20/50, a positive rate and a burst of at least 1) or 'off'."
  }
}

/// The state of one user's bucket.
struct TokenBucket {
  var tokens: Double
  var refilledAt: ContinuousClock.Instant

  init(_ limit: RateLimit, now: ContinuousClock.Instant) {
    tokens = limit.burst
    refilledAt = now
  }

  /// Takes a token, or returns how long until one is available.
  mutating func take(_ limit: RateLimit, now: ContinuousClock.Instant) -> Duration? {
    // An instant older than the last refill (read before another caller's)
    // refills nothing and does not move the refill time back.
    if now > refilledAt {
      let elapsed = now - refilledAt
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
      tokens = min(limit.burst, tokens + seconds * limit.perSecond)
      refilledAt = now
    }
    if tokens >= 1 {
      tokens -= 1
      return nil
    }
    return .seconds((1 - tokens) / limit.perSecond)
  }
}

/// How calls other than Connect prove who they are.
public enum AuthMode: String, Sendable, CaseIterable {
  /// `authorization: <username>` (or `Bearer <username>`): the contract's rule.
  case username
  /// `authorization: Bearer <session_id>` from the caller's Welcome.
  case session
}
