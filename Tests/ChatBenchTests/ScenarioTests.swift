import ChatTestSupport
import ChatBench
import Foundation
import Testing

/// Each scenario, tiny, end to end against an in-process server: the
/// figures are the benchmark's business; here nothing may be lost.
@Suite("chat-bench scenarios end to end")
struct ScenarioTests {
  struct FanoutCase: Sendable, CustomTestStringConvertible {
    var members: Int
    var connections: Int?
    var senders: Int
    var rate: Double?
    var testDescription: String {
      "\(members) members on \(connections.map(String.init) ?? "own") connections, \(senders) senders, "
        + (rate.map { "\($0)/s" } ?? "flooding")
    }
  }

  @Test(
    "a fanout delivers every accepted message to every member",
    arguments: [
      FanoutCase(members: 6, connections: nil, senders: 2, rate: nil),
      FanoutCase(members: 8, connections: 2, senders: 3, rate: nil),
      FanoutCase(members: 5, connections: 1, senders: 2, rate: 40),
    ])
  func fanout(_ testCase: FanoutCase) async throws {
    var options = FanoutOptions()
    options.members = testCase.members
    options.connections = testCase.connections
    options.senders = testCase.senders
    options.sending.rate = testCase.rate
    options.sending.duration = .seconds(2)
    options.common = .test
    let report = try await TestServer.with { server in
      try await withTimeout(60, "the fanout run") { [options] in try await ChatBench.fanout(options, target: server.target) }
    }
    #expect(report.connect.welcomed == testCase.members)
    #expect(report.messagesSent > 0)
    #expect(report.sendErrors.isEmpty)
    #expect(report.deliveriesExpected == report.messagesSent * testCase.members)
    #expect(report.deliveriesReceived == report.deliveriesExpected)
    #expect(report.lost == 0)
    #expect(report.outOfOrder == 0)
    #expect(report.expectedIsExact)
    #expect(report.sessionsEnded.isEmpty)
    #expect(report.latency?.count == report.deliveriesReceived)
    #expect(report.ok)
  }

  @Test("a member kicked mid-run is counted as ended, and expected only what it was sent while a member")
  func memberEndedEarly() async throws {
    var options = FanoutOptions()
    options.members = 5
    options.senders = 2
    options.sending.rate = 100
    options.sending.duration = .seconds(3)
    options.common = .test
    let report = try await TestServer.with { server in
      let run = Task { [options] in try await ChatBench.fanout(options, target: server.target) }
      // Kick a member that does not send (index 4) once messages flow (the
      // registry has no event to await for that, so poll its snapshot).
      let victim = try await withTimeout(40, "messages to flow") {
        while true {
          let snapshot = server.app.registry.snapshot()
          if server.app.registry.counts().messagesAccepted > 0, let user = snapshot.users.first(where: { $0.name.hasSuffix("-4") }) {
            return user.name
          }
          try await Task.sleep(for: .milliseconds(5))
        }
      }
      _ = try server.app.registry.kick(victim, reason: "test")
      return try await withTimeout(60, "the fanout run") { try await run.value }
    }
    #expect(report.sessionsEnded == ["permissionDenied": 1])
    #expect(report.expectedIsExact)
    // The kicked member received everything queued before its end.
    #expect(report.lost == 0)
    #expect(report.deliveriesReceived == report.deliveriesExpected)
    #expect(report.deliveriesExpected < report.messagesSent * options.members)
    #expect(!report.ok)
  }

  @Test("a direct run delivers every message to its recipient and echoes it to its sender")
  func direct() async throws {
    var options = DirectOptions()
    options.pairs = 3
    options.connections = 2
    options.sending.duration = .seconds(2)
    options.common = .test
    let report = try await TestServer.with { server in
      try await withTimeout(60, "the direct run") { [options] in try await ChatBench.direct(options, target: server.target) }
    }
    #expect(report.messagesSent > 0)
    #expect(report.deliveriesExpected == 2 * report.messagesSent)
    #expect(report.deliveriesReceived == report.deliveriesExpected)
    #expect(report.lost == 0)
    #expect(report.ok)
  }

  @Test("every session of a sessions run reaches Welcome and stays connected", arguments: [nil, 4] as [Int?])
  func sessions(connections: Int?) async throws {
    var options = SessionsOptions()
    options.sessions = 20
    options.connections = connections
    options.hold = .milliseconds(100)
    options.common = .test
    options.common.connectConcurrency = 8
    let report = try await TestServer.with { server in
      try await withTimeout(60, "the sessions run") { [options] in
        try await ChatBench.sessions(options, target: server.target)
      }
    }
    #expect(report.connect.sessions == 20)
    #expect(report.connect.welcomed == 20)
    #expect(report.connect.failed == 0)
    #expect(report.connect.connections == (connections ?? 20))
    #expect(report.sessionsEnded.isEmpty)
    #expect(report.ok)
  }

  @Test("the report's JSON carries the figures and the verdict, and summarize reads it back")
  func json() async throws {
    var options = SessionsOptions()
    options.sessions = 3
    options.hold = .zero
    options.common = .test
    let report = try await TestServer.with { server in
      try await withTimeout(60, "the sessions run") { [options] in
        try await ChatBench.sessions(options, target: server.target)
      }
    }
    let json = report.json()
    #expect(json.contains("\"scenario\" : \"sessions\""))
    #expect(json.contains("\"ok\" : true"))
    #expect(report.table().contains("result"))

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("sessions-3-1.json").path
    try Data(json.utf8).write(to: URL(fileURLWithPath: file))
    let notReport = directory.appendingPathComponent("sessions-3-2.json").path
    try Data("{".utf8).write(to: URL(fileURLWithPath: notReport))
    let (table, skipped) = BenchSummary.markdown(files: [file, notReport])
    #expect(table.contains("| sessions-3 | 1/1 | 0 |"))
    #expect(skipped == [notReport])
  }
}
