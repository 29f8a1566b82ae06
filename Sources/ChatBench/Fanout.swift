import ChatAPI
import Synchronization

extension ChatBench {
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

    let filled = Mutex<BenchReport.Fill?>(nil)
    let (phase, tallies) = try await withFleet(plan, target: target) { fleet -> MessagePhase? in
      guard fleet.allWelcomed else { return nil }
      let request = Chat_V1_GroupRequest.with { $0.group = group }
      let owner = fleet.sessions[0]
      _ = try await owner.connection.chat.createGroupChat(request, metadata: owner.authorization)
      let fillStart = target.pid.flatMap(ProcessSample.read(pid:))
      let fillStartedAt = BenchClock.now()
      try await forEachConcurrently(fleet.sessions.dropFirst(), limit: 64) { member in
        _ = try await member.connection.chat.joinGroupChat(request, metadata: member.authorization)
      }
      // The k-th member in sees the joins of itself and everyone after it.
      let joinEvents = members * (members + 1) / 2
      let settled = await fleet.waitUntil(timeout: common.setupTimeout) {
        fleet.counters.memberJoined.load(ordering: .relaxed) >= joinEvents
      }
      let fillEnd = target.pid.flatMap(ProcessSample.read(pid:))
      let cpu = fillStart.flatMap { start in fillEnd.map { $0.cpuSeconds - start.cpuSeconds } }
      filled.withLock {
        $0 = BenchReport.Fill(
          members: members, seconds: BenchClock.seconds(from: fillStartedAt, to: BenchClock.now()),
          serverCPUSeconds: cpu, serverCPUMicrosPerJoin: cpu.map { $0 * 1e6 / Double(max(1, members - 1)) })
      }

      let channel = Chat_V1_Channel.with {
        $0.name = group
        $0.type = .group
      }
      let schedules = options.sending.schedules(senders: senders)
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
      ] + options.sending.parameters,
      tallies: tallies, connections: min(plan.connections, members))
    report.fill = filled.withLock { $0 }
    guard let phase else {
      report.notes.append("not every session reached Welcome: nothing was sent")
      report.bench = .measure(ProcessDelta(before: .ofSelf(), after: .ofSelf()))
      return report
    }
    let (expected, exact) = fanoutExpected(tallies, accepted: phase.accepted.reduce(0, +), name: names.user)
    report.addMessages(phase, tallies: tallies, expected: expected, exact: exact)
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
