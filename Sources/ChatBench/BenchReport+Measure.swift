import Foundation

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
    sendLatency = Latency(phase.sendLatency)
    if let server = phase.server { self.server = .measure(server, deliveries: deliveriesReceived) }
    bench = .measure(phase.bench, deliveries: deliveriesReceived)
    setMachine(phase.machineCores)
    notes += phase.notes
    if lost > 0 {
      let waited = BenchClock.seconds(from: phase.sendEndedAt, to: phase.drainedAt)
      notes.append("\(lost) deliveries still missing \(String(format: "%.1f", waited)) s after sending stopped")
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
