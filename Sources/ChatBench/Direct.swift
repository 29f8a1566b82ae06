import ChatAPI

extension ChatBench {
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
      let schedules = options.sending.schedules(senders: users)
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
      ] + options.sending.parameters,
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
}
