extension ChatBench {
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
        machineConnected: machineConnected, serverConnected: serverConnected, serverHeld: target.sample(),
        benchConnected: benchConnected, benchHeld: .ofSelf())
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
