import ChatAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import JWTKit
import Synchronization

/// `presence`: accounts in groups, all reconnecting at once.
public struct PresenceOptions: Sendable {
  public var accounts = 10_000
  public var groupSize = 100
  /// Connections the sessions share.
  public var connections = 100
  /// The HS256 secret the server verifies JWTs with (`--jwt-key`).
  public var jwtSecret = Data()
  public var common = CommonOptions()

  public init() {}
}

extension ChatBench {
  /// Setup: `accounts` accounts (admitted by JWTs, so no password hashing)
  /// connect and join groups of `groupSize`. Measured: every connection is
  /// closed at once and every account reconnects at once; the server's CPU
  /// from the close until the PresenceChanged events stop, how many were
  /// delivered, and the time to the last Welcome. With `--presence-grace`
  /// longer than the reconnect takes, nobody is announced at all.
  public static func presence(_ options: PresenceOptions, target: BenchTarget) async throws -> BenchReport {
    let names = RunNames()
    let accounts = (0..<options.accounts).map(names.user)
    let tokens = try await Self.jwts(for: accounts, secret: options.jwtSecret)
    let counters = PresenceCounters()
    let groupCount = (accounts.count + options.groupSize - 1) / options.groupSize

    // Setup: every account connected, in its group.
    var fleet = try PresenceFleet(target: target, connections: options.connections)
    try await fleet.connect(tokens, counters: counters, timeout: options.common.connectTimeout)
    for group in 0..<groupCount {
      let members = Array(group * options.groupSize..<min(accounts.count, (group + 1) * options.groupSize))
      let name = "\(names.group)-\(group)"
      try await fleet.call(member: members[0]) { chat, auth in
        _ = try await chat.createGroupChat(.with { $0.group = name }, metadata: auth)
      }
      try await withThrowingTaskGroup(of: Void.self) { calls in
        for member in members.dropFirst() {
          calls.addTask { [fleet] in
            try await fleet.call(member: member) { chat, auth in
              _ = try await chat.joinGroupChat(.with { $0.group = name }, metadata: auth)
            }
          }
        }
        try await calls.waitForAll()
      }
    }
    await counters.settle(timeout: options.common.setupTimeout)

    // The mass reconnect.
    let serverBefore = target.sample()
    let benchBefore = ProcessSample.ofSelf()
    counters.reset()
    let started = BenchClock.now()
    fleet.closeAll()
    fleet = try PresenceFleet(target: target, connections: options.connections)
    try await fleet.connect(tokens, counters: counters, timeout: options.common.connectTimeout)
    let welcomedAt = BenchClock.now()
    let quietAt = await counters.settle(timeout: options.common.drainTimeout)
    let serverAfter = target.sample()
    let benchAfter = ProcessSample.ofSelf()
    fleet.closeAll()

    var report = BenchReport.start(
      "presence", target: target,
      parameters: [
        ("accounts", "\(accounts.count)"), ("group-size", "\(options.groupSize)"), ("groups", "\(groupCount)"),
        ("connections", "\(options.connections)"),
      ], tallies: [], connections: options.connections)
    report.connect = BenchReport.Connect(
      sessions: accounts.count, connections: options.connections,
      welcomed: counters.welcomed.load(ordering: .relaxed), failed: 0,
      seconds: Double(welcomedAt - started) / 1e9, perSession: nil)
    let seconds = Double((max(quietAt, welcomedAt)) - started) / 1e9
    report.measuredSeconds = seconds
    let online = counters.online.load(ordering: .relaxed)
    let offline = counters.offline.load(ordering: .relaxed)
    report.deliveriesReceived = online + offline
    if let serverBefore, let serverAfter {
      report.server = .measure(
        ProcessDelta(before: serverBefore, after: serverAfter), deliveries: online + offline, sessions: accounts.count)
    }
    report.bench = .measure(ProcessDelta(before: benchBefore, after: benchAfter), sessions: accounts.count)
    report.notes += [
      "mass reconnect of \(accounts.count) accounts: last Welcome after \(String(format: "%.2f", Double(welcomedAt - started) / 1e9)) s, "
        + "PresenceChanged delivered: \(online) online + \(offline) offline "
        + "(\(String(format: "%.1f", Double(online + offline) / Double(accounts.count))) per account), quiet after \(String(format: "%.2f", seconds)) s",
      "server CPU per session: per reconnecting account, from the close to the last event",
    ]
    return report
  }

  /// HS256 JWTs naming each account, valid for a day.
  private static func jwts(for accounts: [String], secret: Data) async throws -> [String] {
    let keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    var tokens: [String] = []
    tokens.reserveCapacity(accounts.count)
    let expiry = Date().addingTimeInterval(86_400)
    for account in accounts {
      tokens.append(try await keys.sign(BenchClaims(sub: SubjectClaim(value: account), exp: ExpirationClaim(value: expiry))))
    }
    return tokens
  }
}

struct BenchClaims: JWTPayload {
  var sub: SubjectClaim
  var exp: ExpirationClaim

  func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// PresenceChanged events the sessions received, and when the last came.
final class PresenceCounters: Sendable {
  let online = Atomic<Int>(0)
  let offline = Atomic<Int>(0)
  let welcomed = Atomic<Int>(0)
  /// Anything received (BenchClock nanoseconds of the last event).
  let lastEventAt = Atomic<UInt64>(0)

  func reset() {
    online.store(0, ordering: .relaxed)
    offline.store(0, ordering: .relaxed)
    welcomed.store(0, ordering: .relaxed)
  }

  func record(_ event: Chat_V1_Event) {
    switch event.kind {
    case .presence(let change):
      if change.online {
        online.add(1, ordering: .relaxed)
      } else {
        offline.add(1, ordering: .relaxed)
      }
    case .welcome:
      welcomed.add(1, ordering: .relaxed)
    default:
      break
    }
    lastEventAt.store(BenchClock.now(), ordering: .relaxed)
  }

  /// Waits until no event has arrived for 500 ms (at most `timeout`);
  /// returns when the last one came.
  @discardableResult
  func settle(timeout: Duration) async -> UInt64 {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      let last = lastEventAt.load(ordering: .relaxed)
      if BenchClock.now() - last > 500_000_000 { return last }
      try? await Task.sleep(for: .milliseconds(50))
    }
    return lastEventAt.load(ordering: .relaxed)
  }
}

/// Account sessions spread over connections; each account's Connect
/// stream feeds `PresenceCounters`.
final class PresenceFleet: Sendable {
  let connections: [BenchConnection]
  let runners: [Task<Void, any Error>]
  private let streams = Mutex<[Task<Void, Never>]>([])
  private let tokens = Mutex<[String]>([])

  init(target: BenchTarget, connections count: Int) throws {
    connections = try (0..<max(1, count)).map { _ in try BenchConnection(target: target) }
    runners = connections.map { connection in Task { try await connection.client.runConnections() } }
  }

  func connection(for member: Int) -> BenchConnection { connections[member % connections.count] }

  /// Opens every account's stream, at most 100 connecting at once, and
  /// waits for every Welcome.
  func connect(_ tokens: [String], counters: PresenceCounters, timeout: Duration) async throws {
    self.tokens.withLock { $0 = tokens }
    let before = counters.welcomed.load(ordering: .relaxed)
    let gate = ConnectGate(limit: 100)
    var started: [Task<Void, Never>] = []
    for (index, token) in tokens.enumerated() {
      _ = await gate.acquire()
      let chat = connection(for: index).chat
      let slot = GateSlot(gate)
      started.append(
        Task {
          defer { slot.release() }
          try? await chat.connect(.with { _ in }, metadata: ["authorization": "Bearer \(token)"]) { response in
            for try await event in response.messages {
              counters.record(event)
              if case .welcome = event.kind { slot.release() }
            }
          }
        })
    }
    streams.withLock { $0 += started }
    let deadline = ContinuousClock.now + timeout
    while counters.welcomed.load(ordering: .relaxed) - before < tokens.count {
      guard ContinuousClock.now < deadline else {
        throw BenchFailure("only \(counters.welcomed.load(ordering: .relaxed) - before) of \(tokens.count) accounts were welcomed")
      }
      try await Task.sleep(for: .milliseconds(10))
    }
  }

  /// A unary call as `member`.
  func call(member: Int, _ body: (Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> Void)
    async throws
  {
    let token = tokens.withLock { $0[member] }
    try await body(connection(for: member).chat, ["authorization": "Bearer \(token)"])
  }

  /// Ends every stream and closes every connection at once.
  func closeAll() {
    for stream in streams.withLock({ $0 }) { stream.cancel() }
    for connection in connections { connection.client.beginGracefulShutdown() }
    for runner in runners { runner.cancel() }
  }
}

/// One session's place in the connect gate, given back once: at its
/// Welcome, or when its stream ends without one.
final class GateSlot: Sendable {
  private let gate: ConnectGate
  private let released = Atomic<Bool>(false)

  init(_ gate: ConnectGate) { self.gate = gate }

  func release() {
    if !released.exchange(true, ordering: .relaxed) { gate.release() }
  }
}

struct BenchFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
