import ChatAPI

/// What happened while senders posted and members received.
struct MessagePhase: Sendable {
  var startedAt: UInt64
  var sendEndedAt: UInt64
  var drainedAt: UInt64
  /// Accepted messages, by sender (index into the senders given).
  var accepted: [Int]
  var sendErrors: [String: Int]
  /// SendMessage call to OK, all senders.
  var sendLatency = LatencyHistogram()
  var server: ProcessDelta?
  var bench: ProcessDelta
  /// Cores busy on the whole machine over the phase.
  var machineCores: Double?
  var notes: [String] = []
}

/// One sender: who sends, to where, when.
struct SenderPlan: Sendable {
  let session: BenchSession
  let channel: Chat_V1_Channel
  let schedule: SendSchedule
}

extension Fleet {
  /// Runs the senders to the end of their schedules (the receiving side keeps
  /// going on its own), then waits until every open session has what
  /// `expected(session, acceptedBySender)` says, or deliveries stall for
  /// `drainTimeout`. CPU of the server and of the benchmark is sampled around it.
  func measureMessages(
    target: BenchTarget, senders: [SenderPlan], drainTimeout: Duration,
    expected: @Sendable (BenchSession, [Int]) -> Int
  ) async -> MessagePhase {
    let machineBefore = MachineSample.read()
    let serverBefore = target.sample()
    let benchBefore = ProcessSample.ofSelf()
    let startedAt = BenchClock.now()
    let counters = senders.map { _ in SendCounters() }
    await withDiscardingTaskGroup { group in
      for (sender, counters) in zip(senders, counters) {
        group.addTask { await sender.session.send(to: sender.channel, sender.schedule, counters: counters) }
      }
    }
    let sendEndedAt = BenchClock.now()
    let accepted = counters.map { $0.accepted.load(ordering: .relaxed) }
    let drainedAt = await drain(idleTimeout: drainTimeout) { expected($0, accepted) }
    let serverAfter = target.sample()
    let benchAfter = ProcessSample.ofSelf()
    let machineAfter = MachineSample.read()
    var errors: [String: Int] = [:]
    for counter in counters { errors.merge(counter.errorsByCode, uniquingKeysWith: +) }
    var server: ProcessDelta?
    if let serverBefore, let serverAfter { server = ProcessDelta(before: serverBefore, after: serverAfter) }
    var sendLatency = LatencyHistogram()
    for counter in counters { sendLatency.add(counter.latency) }
    var phase = MessagePhase(
      startedAt: startedAt, sendEndedAt: sendEndedAt, drainedAt: drainedAt, accepted: accepted,
      sendErrors: errors, server: server, bench: ProcessDelta(before: benchBefore, after: benchAfter),
      machineCores: machineBefore.flatMap { before in machineAfter.map { before.cores(until: $0) } })
    phase.sendLatency = sendLatency
    return phase
  }
}
