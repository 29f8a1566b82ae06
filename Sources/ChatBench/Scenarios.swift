import ChatAPI
import Foundation

/// The benchmark scenarios of issue 5. Each connects its sessions, runs,
/// closes them and reports what it measured.
public enum ChatBench {
  /// `members` in one group over `connections`; `senders` of them post to it
  /// for `duration`, flooding or at `rate`; every member times every message.
  public static func fanout(_ options: FanoutOptions, target: BenchTarget) async throws -> BenchReport {
    let names = RunNames()
    let members = max(1, options.members)
    let senders = max(1, min(options.senders, members))
    let plan = FleetPlan(
      names: (0..<members).map(names.user), connections: options.connections ?? members,
      connectConcurrency: options.common.connectConcurrency, connectTimeout: options.common.connectTimeout,
      recordLatency: true)
    let group = names.group
    let common = options.common

    let (phase, tallies) = try await withFleet(plan, target: target) { fleet -> MessagePhase? in
      guard fleet.allWelcomed else { return nil }
      let request = Chat_V1_GroupRequest.with { $0.group = group }
      let owner = fleet.sessions[0]
      _ = try await owner.connection.chat.createGroupChat(request, metadata: owner.authorization)
      try await forEachConcurrently(fleet.sessions.dropFirst(), limit: 64) { member in
        _ = try await member.connection.chat.joinGroupChat(request, metadata: member.authorization)
      }
      // The k-th member in sees the joins of itself and everyone after it.
      let joinEvents = members * (members + 1) / 2
      let settled = await fleet.waitUntil(timeout: common.setupTimeout) {
        fleet.counters.memberJoined.load(ordering: .relaxed) >= joinEvents
      }

      let channel = Chat_V1_Channel.with {
        $0.name = group
        $0.type = .group
      }
      let schedules = SendSchedule.plan(
        rate: options.rate, senders: senders, duration: options.duration, inFlight: options.inFlight,
        messageBytes: options.messageBytes, startAt: BenchClock.now())
      let plans = (0..<senders).map { SenderPlan(session: fleet.sessions[$0], channel: channel, schedule: schedules[$0]) }
      var phase = await fleet.measureMessages(target: target, senders: plans, drainTimeout: common.drainTimeout) {
        _, accepted in accepted.reduce(0, +)
      }
      if !settled {
        phase.notes.append(
          "setup: \(fleet.counters.memberJoined.load(ordering: .relaxed)) of \(joinEvents) MemberJoined events arrived within \(common.setupTimeout)")
      }
      return phase
    }

    var report = BenchReport.start(
      "fanout", target: target,
      parameters: [
        ("members", "\(members)"), ("connections", "\(min(plan.connections, members))"), ("senders", "\(senders)"),
        ("duration", "\(options.duration.seconds)s"), ("rate", options.rate.map { "\($0)/s" } ?? "flood"),
        ("in-flight", "\(options.inFlight)"), ("message-bytes", "\(options.messageBytes)"),
      ],
      tallies: tallies, connections: min(plan.connections, members))
    guard let phase else {
      report.notes.append("not every session reached Welcome: nothing was sent")
      report.bench = .measure(ProcessDelta(before: .ofSelf(), after: .ofSelf()))
      return report
    }
    let (expected, exact) = fanoutExpected(tallies, accepted: phase.accepted.reduce(0, +), name: names.user)
    report.addMessages(phase, tallies: tallies, expected: expected, exact: exact)
    return report
  }

  /// `pairs` pairs of users; each user sends its partner direct messages
  /// (each one delivered to the partner and echoed to the sender).
  public static func direct(_ options: DirectOptions, target: BenchTarget) async throws -> BenchReport {
    let names = RunNames()
    let users = 2 * max(1, options.pairs)
    let plan = FleetPlan(
      names: (0..<users).map(names.user), connections: options.connections ?? users,
      connectConcurrency: options.common.connectConcurrency, connectTimeout: options.common.connectTimeout,
      recordLatency: true)
    let common = options.common

    let (phase, tallies) = try await withFleet(plan, target: target) { fleet -> MessagePhase? in
      guard fleet.allWelcomed else { return nil }
      let schedules = SendSchedule.plan(
        rate: options.rate, senders: users, duration: options.duration, inFlight: options.inFlight,
        messageBytes: options.messageBytes, startAt: BenchClock.now())
      let plans = fleet.sessions.map { session in
        SenderPlan(
          session: session,
          channel: .with {
            $0.name = names.user(session.index ^ 1)
            $0.type = .user
          },
          schedule: schedules[session.index])
      }
      return await fleet.measureMessages(target: target, senders: plans, drainTimeout: common.drainTimeout) {
        session, accepted in accepted[session.index] + accepted[session.index ^ 1]
      }
    }

    var report = BenchReport.start(
      "direct", target: target,
      parameters: [
        ("pairs", "\(users / 2)"), ("connections", "\(min(plan.connections, users))"),
        ("duration", "\(options.duration.seconds)s"), ("rate", options.rate.map { "\($0)/s" } ?? "flood"),
        ("in-flight", "\(options.inFlight)"), ("message-bytes", "\(options.messageBytes)"),
      ],
      tallies: tallies, connections: min(plan.connections, users))
    guard let phase else {
      report.notes.append("not every session reached Welcome: nothing was sent")
      report.bench = .measure(ProcessDelta(before: .ofSelf(), after: .ofSelf()))
      return report
    }
    // Every accepted message is for its recipient and its sender; if either
    // ended early the count is an upper bound.
    let anyEnded = tallies.contains { $0.outcome != .open }
    let expected = tallies.map { phase.accepted[$0.index] + phase.accepted[$0.index ^ 1] }
    report.addMessages(phase, tallies: tallies, expected: expected, exact: !anyEnded)
    return report
  }

  /// `sessions` sessions over `connections`, all waiting for Welcome, then
  /// held for `hold`: connect time, and the server's memory per session.
  public static func sessions(_ options: SessionsOptions, target: BenchTarget) async throws -> BenchReport {
    let names = RunNames()
    let count = max(1, options.sessions)
    let plan = FleetPlan(
      names: (0..<count).map(names.user), connections: options.connections ?? count,
      connectConcurrency: options.common.connectConcurrency, connectTimeout: options.common.connectTimeout,
      recordLatency: false)
    let machineBefore = MachineSample.read()
    let serverBefore = target.sample()
    let benchBefore = ProcessSample.ofSelf()

    struct Held: Sendable {
      var machineConnected: MachineSample?
      var serverConnected: ProcessSample?
      var serverHeld: ProcessSample?
      var benchConnected: ProcessSample
      var benchHeld: ProcessSample
    }
    let (held, tallies) = try await withFleet(plan, target: target) { fleet in
      let serverConnected = target.sample()
      let benchConnected = ProcessSample.ofSelf()
      let machineConnected = MachineSample.read()
      try? await Task.sleep(for: options.hold)
      return Held(
        machineConnected: machineConnected, serverConnected: serverConnected, serverHeld: target.sample(), benchConnected: benchConnected,
        benchHeld: .ofSelf())
    }

    let connections = min(plan.connections, count)
    var report = BenchReport.start(
      "sessions", target: target,
      parameters: [
        ("sessions", "\(count)"), ("connections", "\(connections)"), ("hold", "\(options.hold.seconds)s"),
        ("connect-concurrency", "\(options.common.connectConcurrency)"),
      ],
      tallies: tallies, connections: connections)
    report.measuredSeconds = report.connect.seconds + options.hold.seconds
    let welcomed = max(1, report.connect.welcomed)
    if let serverBefore, let connected = held.serverConnected, let heldSample = held.serverHeld {
      report.server = .measure(
        ProcessDelta(before: serverBefore, after: connected), sessions: welcomed, rssAfter: heldSample)
    }
    report.bench = .measure(
      ProcessDelta(before: benchBefore, after: held.benchConnected), sessions: welcomed, rssAfter: held.benchHeld)
    report.setMachine(machineBefore.flatMap { before in held.machineConnected.map { before.cores(until: $0) } })
    return report
  }
}

/// Deliveries expected per member of a fanout: every accepted message while
/// it was a member. A member that ended early was one for the messages a
/// surviving member received before that member's MemberLeft (the server
/// gives each group one order). Without a survivor the count is an upper bound
/// (`exact` false).
func fanoutExpected(
  _ tallies: [SessionTally], accepted: Int, name: (Int) -> String
) -> (expected: [Int], exact: Bool) {
  let reference = tallies.filter { $0.outcome == .open && $0.welcomedAt != 0 }.max { $0.messages < $1.messages }
  var exact = true
  let expected = tallies.map { tally -> Int in
    if tally.welcomedAt == 0 { return 0 }
    if tally.outcome == .open { return accepted }
    let username = name(tally.index)
    if let departure = reference?.departures.first(where: { $0.username == username }) {
      return departure.afterMessages
    }
    exact = false
    return accepted
  }
  return (expected, exact)
}

extension BenchReport {
  /// The parts every scenario has: parameters, connect figures, sessions ended early.
  static func start(
    _ scenario: String, target: BenchTarget, parameters: [(String, String)], tallies: [SessionTally],
    connections: Int
  ) -> BenchReport {
    var perSession = LatencyHistogram()
    var lastWelcome: UInt64 = 0
    var firstStart = UInt64.max
    var sessionsEnded: [String: Int] = [:]
    for tally in tallies {
      if tally.startedAt != 0 { firstStart = Swift.min(firstStart, tally.startedAt) }
      if tally.welcomedAt != 0 {
        perSession.record((tally.welcomedAt - tally.startedAt) / 1000)
        lastWelcome = Swift.max(lastWelcome, tally.welcomedAt)
      }
      if case .ended(let code, _) = tally.outcome { sessionsEnded[code, default: 0] += 1 }
    }
    let welcomed = tallies.count { $0.welcomedAt != 0 }
    let connect = Connect(
      sessions: tallies.count, connections: connections, welcomed: welcomed,
      failed: tallies.count { $0.welcomedAt == 0 },
      seconds: lastWelcome == 0 ? 0 : BenchClock.seconds(from: firstStart, to: lastWelcome),
      perSession: Latency(perSession))
    var report = BenchReport(
      scenario: scenario, date: ISO8601DateFormatter().string(from: Date()),
      target: "\(target.host):\(target.port)" + (target.pid.map { " (pid \($0))" } ?? ""),
      parameters: parameters.map { Parameter(name: $0.0, value: $0.1) }, connect: connect,
      bench: .measure(ProcessDelta(before: .ofSelf(), after: .ofSelf())))
    report.sessionsEnded = sessionsEnded
    // The first few reasons, so a reader sees why without a debugger.
    var seen = Set<String>()
    for tally in tallies {
      if case .ended(let code, let message) = tally.outcome, seen.insert(code).inserted {
        report.notes.append("session \(tally.index) ended: \(code): \(message)")
      }
    }
    return report
  }

  /// Deliveries, losses, rates, latency and CPU per delivery.
  mutating func addMessages(_ phase: MessagePhase, tallies: [SessionTally], expected: [Int], exact: Bool) {
    messagesSent = phase.accepted.reduce(0, +)
    sendErrors = phase.sendErrors
    deliveriesReceived = tallies.reduce(0) { $0 + $1.messages }
    deliveriesExpected = expected.reduce(0, +)
    for (tally, expected) in zip(tallies, expected) {
      lost += Swift.max(0, expected - tally.messages)
      unconfirmed += Swift.max(0, tally.messages - expected)
    }
    outOfOrder = tallies.reduce(0) { $0 + $1.outOfOrder }
    expectedIsExact = exact
    let lastDelivery = tallies.reduce(phase.sendEndedAt) { Swift.max($0, $1.lastReceivedAt) }
    measuredSeconds = BenchClock.seconds(from: phase.startedAt, to: lastDelivery)
    if measuredSeconds > 0 {
      messagesPerSecond = Double(messagesSent) / BenchClock.seconds(from: phase.startedAt, to: phase.sendEndedAt)
      deliveriesPerSecond = Double(deliveriesReceived) / measuredSeconds
    }
    var merged = LatencyHistogram()
    for tally in tallies { if let latency = tally.latency { merged.add(latency) } }
    latency = Latency(merged)
    if let server = phase.server { self.server = .measure(server, deliveries: deliveriesReceived) }
    bench = .measure(phase.bench, deliveries: deliveriesReceived)
    setMachine(phase.machineCores)
    notes += phase.notes
    if BenchClock.seconds(from: phase.sendEndedAt, to: phase.drainedAt) > 0,
      lost > 0
    {
      notes.append(
        "deliveries stalled: \(lost) still missing \(String(format: "%.1f", BenchClock.seconds(from: phase.sendEndedAt, to: phase.drainedAt))) s after sending stopped")
    }
  }
}

extension BenchReport {
  /// Records the machine's busy cores and what other processes took of them.
  mutating func setMachine(_ cores: Double?) {
    machineCores = cores
    guard let cores, let server else { return }
    otherCores = Swift.max(0, cores - server.cores - bench.cores)
  }
}

extension BenchReport.Usage {
  static func measure(
    _ delta: ProcessDelta, deliveries: Int? = nil, sessions: Int? = nil, rssAfter: ProcessSample? = nil
  ) -> Self {
    let after = rssAfter ?? delta.after
    return Self(
      cpuSeconds: delta.cpuSeconds, cores: delta.cores,
      cpuMicrosPerDelivery: deliveries.flatMap { $0 > 0 ? delta.cpuSeconds * 1e6 / Double($0) : nil },
      cpuMicrosPerSession: sessions.map { delta.cpuSeconds * 1e6 / Double($0) },
      rssBeforeKiB: delta.before.rssKiB, rssAfterKiB: after.rssKiB, peakRSSKiB: after.peakRSSKiB,
      rssGrowthPerSessionKiB: sessions.map { Double(after.rssKiB - delta.before.rssKiB) / Double($0) })
  }
}
