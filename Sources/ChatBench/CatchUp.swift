import ChatAPI
import Foundation
import GRPCCore

/// `catchup`: how long an account's Connect takes to replay what it missed.
public struct CatchUpOptions: Sendable {
  /// Events the account misses while offline.
  public var missed = 1000
  public var rounds = 5
  public var common = CommonOptions()

  public init() {}
}

extension ChatBench {
  /// Each round: a new account connects once (so its position is set) and
  /// leaves; a guest sends it `missed` direct messages; the account connects
  /// again. Measured: Welcome to its last replayed event (the report's
  /// latency), and whether Welcome said everything was recovered.
  public static func catchUp(_ options: CatchUpOptions, target: BenchTarget) async throws -> BenchReport {
    let connection = try BenchConnection(target: target)
    let client = Task { try await connection.client.runConnections() }
    defer {
      connection.client.beginGracefulShutdown()
      client.cancel()
    }
    let names = RunNames()
    let benchBefore = ProcessSample.ofSelf()
    let serverBefore = target.sample()
    var replay = LatencyHistogram()
    var notes: [String] = []
    var sent = 0
    for round in 0..<options.rounds {
      let account = names.user(2 * round)
      let token = try await connection.chat.signUp(.with {
        $0.username = account
        $0.password = "catch-up benchmark"
      }).token
      let bearer: Metadata = ["authorization": "Bearer \(token)"]
      // Once connected and gone, the account's position is the log's end.
      try await connection.chat.connect(.with { _ in }, metadata: bearer) { response in
        for try await event in response.messages {
          if case .welcome = event.kind { break }
        }
      }
      let sender = names.user(2 * round + 1)
      let guest = Task {
        try await connection.chat.connect(.with { $0.username = sender }) { response in
          for try await _ in response.messages {}
        }
      }
      defer { guest.cancel() }
      let auth: Metadata = ["authorization": "\(sender)"]
      var ready = false
      while !ready {
        do {
          _ = try await connection.chat.listChannels(.init(), metadata: auth)
          ready = true
        } catch let error as RPCError where error.code == .unauthenticated {
          try await Task.sleep(for: .milliseconds(5))
        }
      }
      for index in 0..<options.missed {
        _ = try await connection.chat.sendMessage(
          .with {
            $0.to = .with {
              $0.name = account
              $0.type = .user
            }
            $0.text = "missed \(index)"
          }, metadata: auth)
        sent += 1
      }
      let (welcomeAt, lastAt, welcome) = try await connection.chat.connect(.with { _ in }, metadata: bearer) {
        (response: StreamingClientResponse<Chat_V1_Event>) -> (UInt64, UInt64, Chat_V1_Welcome) in
        var welcomeAt: UInt64 = 0
        var welcome = Chat_V1_Welcome()
        var received = 0
        for try await event in response.messages {
          if case .welcome(let w) = event.kind {
            welcomeAt = BenchClock.now()
            welcome = w
            if w.replayed == 0 { return (welcomeAt, welcomeAt, w) }
            continue
          }
          received += 1
          if received == Int(welcome.replayed) { return (welcomeAt, BenchClock.now(), welcome) }
        }
        return (welcomeAt, BenchClock.now(), welcome)
      }
      replay.record((lastAt - welcomeAt) / 1000)
      if !welcome.recovered || welcome.replayed != options.missed {
        notes.append("round \(round): recovered \(welcome.recovered), replayed \(welcome.replayed) of \(options.missed)")
      }
    }
    var report = BenchReport.start(
      "catchup", target: target,
      parameters: [("missed", "\(options.missed)"), ("rounds", "\(options.rounds)")], tallies: [], connections: 1)
    report.messagesSent = sent
    report.latency = BenchReport.Latency(replay)
    report.notes = notes + ["latency: Welcome to the last replayed event, per reconnect"]
    if let serverBefore, let serverAfter = target.sample() {
      report.server = .measure(ProcessDelta(before: serverBefore, after: serverAfter))
    }
    report.bench = .measure(ProcessDelta(before: benchBefore, after: .ofSelf()))
    return report
  }
}
