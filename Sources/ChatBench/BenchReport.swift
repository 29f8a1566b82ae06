import Foundation

/// What a benchmark run measured; printed as a table or as JSON.
public struct BenchReport: Encodable, Sendable {
  public struct Parameter: Codable, Sendable {
    public let name: String
    public let value: String
  }

  /// Milliseconds.
  public struct Latency: Codable, Sendable {
    public var count: Int
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    init?(_ histogram: LatencyHistogram) {
      guard histogram.totalCount > 0 else { return nil }
      func ms(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }
      count = Int(histogram.totalCount)
      p50 = ms(50)
      p90 = ms(90)
      p99 = ms(99)
      p999 = ms(99.9)
      max = Double(histogram.max) / 1000
    }
  }

  public struct Connect: Codable, Sendable {
    public var sessions: Int
    public var connections: Int
    public var welcomed: Int
    public var failed: Int
    /// From the first connection attempt to the last Welcome.
    public var seconds: Double
    /// Each session's Connect call to its Welcome.
    public var perSession: Latency?
  }

  /// A process's CPU time and memory over the measured phase.
  public struct Usage: Codable, Sendable {
    public var cpuSeconds: Double
    /// Cores kept busy on average over the phase.
    public var cores: Double
    public var cpuMicrosPerDelivery: Double?
    public var cpuMicrosPerSession: Double?
    public var rssBeforeKiB: Int
    public var rssAfterKiB: Int
    public var peakRSSKiB: Int
    public var rssGrowthPerSessionKiB: Double?
  }

  /// Filling the group (fanout): every member but the first joins, and
  /// each join tells every member so far.
  public struct Fill: Codable, Sendable {
    public var members: Int
    /// From the first JoinGroupChat to the last MemberJoined received.
    public var seconds: Double
    public var serverCPUSeconds: Double?
    public var serverCPUMicrosPerJoin: Double?
  }

  public var scenario: String
  public var date: String
  public var target: String
  public var parameters: [Parameter]
  public var connect: Connect
  /// SendMessage calls the server accepted.
  public var messagesSent = 0
  /// SendMessage calls that failed, by status code.
  public var sendErrors: [String: Int] = [:]
  public var deliveriesReceived = 0
  /// For each accepted message, the members of its audience at that moment.
  public var deliveriesExpected = 0
  public var lost = 0
  /// Deliveries beyond those expected (a send that failed on the client's
  /// side, e.g. by timeout, after the server had accepted it).
  public var unconfirmed = 0
  /// Messages a session received with an id not above the previous one.
  public var outOfOrder = 0
  /// False when sessions ended early and no surviving member could tell
  /// exactly which messages were addressed to them.
  public var expectedIsExact = true
  /// Sessions that ended before the benchmark closed them, by status code.
  public var sessionsEnded: [String: Int] = [:]
  /// The measured phase: from the first send to the last delivery (sessions:
  /// connect plus hold).
  public var measuredSeconds = 0.0
  public var messagesPerSecond = 0.0
  public var deliveriesPerSecond = 0.0
  /// From the send time in the text to its receipt, at every member.
  public var latency: Latency?
  /// SendMessage, call to OK (what durability adds shows here).
  public var sendLatency: Latency?
  /// Present when the server's process id is known.
  public var server: Usage?
  public var bench: Usage
  /// Cores busy on the whole machine over the measured phase, and how many
  /// of them neither the server nor the benchmark used (other work on a
  /// shared machine, which makes the figures less reliable).
  public var machineCores: Double?
  public var otherCores: Double?
  public var fill: Fill?
  public var notes: [String] = []

  /// Nothing lost, nobody disconnected, everyone connected.
  public var ok: Bool {
    lost == 0 && sessionsEnded.isEmpty && connect.failed == 0 && connect.welcomed == connect.sessions
  }

  private enum CodingKeys: String, CodingKey {
    case scenario, date, target, parameters, connect, messagesSent, sendErrors, deliveriesReceived,
      deliveriesExpected, lost, unconfirmed, outOfOrder, expectedIsExact, sessionsEnded, measuredSeconds,
      messagesPerSecond, deliveriesPerSecond, latency, sendLatency, server, bench, machineCores, otherCores, fill, notes, ok
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(scenario, forKey: .scenario)
    try container.encode(date, forKey: .date)
    try container.encode(target, forKey: .target)
    try container.encode(parameters, forKey: .parameters)
    try container.encode(connect, forKey: .connect)
    try container.encode(messagesSent, forKey: .messagesSent)
    try container.encode(sendErrors, forKey: .sendErrors)
    try container.encode(deliveriesReceived, forKey: .deliveriesReceived)
    try container.encode(deliveriesExpected, forKey: .deliveriesExpected)
    try container.encode(lost, forKey: .lost)
    try container.encode(unconfirmed, forKey: .unconfirmed)
    try container.encode(outOfOrder, forKey: .outOfOrder)
    try container.encode(expectedIsExact, forKey: .expectedIsExact)
    try container.encode(sessionsEnded, forKey: .sessionsEnded)
    try container.encode(measuredSeconds, forKey: .measuredSeconds)
    try container.encode(messagesPerSecond, forKey: .messagesPerSecond)
    try container.encode(deliveriesPerSecond, forKey: .deliveriesPerSecond)
    try container.encodeIfPresent(latency, forKey: .latency)
    try container.encodeIfPresent(sendLatency, forKey: .sendLatency)
    try container.encodeIfPresent(server, forKey: .server)
    try container.encode(bench, forKey: .bench)
    try container.encodeIfPresent(machineCores, forKey: .machineCores)
    try container.encodeIfPresent(otherCores, forKey: .otherCores)
    try container.encodeIfPresent(fill, forKey: .fill)
    try container.encode(notes, forKey: .notes)
    try container.encode(ok, forKey: .ok)
  }

  public func json() -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
  }

  /// A two-column table, one figure per row.
  public func table() -> String {
    var rows: [(String, String)] = []
    rows.append(("scenario", "\(scenario) against \(target), \(date)"))
    rows.append(("parameters", parameters.map { "\($0.name)=\($0.value)" }.joined(separator: " ")))
    var connectRow =
      "\(connect.welcomed) of \(connect.sessions) sessions on \(connect.connections) connections in \(f(connect.seconds, 3)) s"
    if let each = connect.perSession {
      connectRow += " (each: p50 \(f(each.p50)) ms, p99 \(f(each.p99)) ms, max \(f(each.max)) ms)"
    }
    if connect.failed > 0 { connectRow += ", \(connect.failed) failed" }
    rows.append(("connect", connectRow))
    if let fill {
      var row = "\(fill.members) members joined in \(f(fill.seconds, 3)) s"
      if let cpu = fill.serverCPUSeconds { row += ", server cpu \(f(cpu, 3)) s" }
      if let perJoin = fill.serverCPUMicrosPerJoin { row += " (\(f(perJoin, 1)) µs/join)" }
      rows.append(("group fill", row))
    }
    if scenario != "sessions" {
      let errors = sendErrors.values.reduce(0, +)
      rows.append(("messages sent", "\(messagesSent) (\(f(messagesPerSecond, 1))/s), \(errors) send errors\(codes(sendErrors))"))
      rows.append(("deliveries", "\(deliveriesReceived) received of \(deliveriesExpected) expected\(expectedIsExact ? "" : " (upper bound)")"))
      rows.append(("lost", "\(lost)\(unconfirmed > 0 ? ", \(unconfirmed) unconfirmed" : "")\(outOfOrder > 0 ? ", \(outOfOrder) out of order" : "")"))
      rows.append(("deliveries/s", "\(f(deliveriesPerSecond, 0)) over \(f(measuredSeconds, 3)) s"))
      if let latency {
        rows.append(
          ("latency ms",
            "p50 \(f(latency.p50))  p90 \(f(latency.p90))  p99 \(f(latency.p99))  p99.9 \(f(latency.p999))  max \(f(latency.max))"))
      } else {
        rows.append(("latency ms", "no deliveries"))
      }
      if let sendLatency {
        rows.append(
          ("SendMessage ms",
            "p50 \(f(sendLatency.p50))  p90 \(f(sendLatency.p90))  p99 \(f(sendLatency.p99))  max \(f(sendLatency.max))"))
      }
    }
    if let server { rows.append(("server", usage(server))) } else { rows.append(("server", "not measured (no --server-pid)")) }
    rows.append(("bench", usage(bench)))
    if let machineCores {
      var row = "\(f(machineCores)) of \(ProcessInfo.processInfo.activeProcessorCount) cores busy"
      if let otherCores { row += ", \(f(otherCores)) by other processes" }
      rows.append(("machine", row))
    }
    rows.append(("sessions ended", sessionsEnded.isEmpty ? "none" : codes(sessionsEnded, lead: "")))
    rows.append(("result", ok ? "OK" : "NOT OK"))
    for note in notes { rows.append(("note", note)) }
    let width = rows.map { $0.0.count }.max() ?? 0
    return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
      .joined(separator: "\n")
  }

  private func usage(_ usage: Usage) -> String {
    var text = "cpu \(f(usage.cpuSeconds, 3)) s (\(f(usage.cores)) cores)"
    if let perDelivery = usage.cpuMicrosPerDelivery { text += ", \(f(perDelivery, 3)) µs/delivery" }
    if let perSession = usage.cpuMicrosPerSession { text += ", \(f(perSession, 1)) µs/session" }
    text += "; rss \(mib(usage.rssBeforeKiB)) → \(mib(usage.rssAfterKiB)) MiB (peak \(mib(usage.peakRSSKiB)))"
    if let growth = usage.rssGrowthPerSessionKiB { text += ", \(f(growth)) KiB/session" }
    return text
  }

  private func codes(_ counts: [String: Int], lead: String = ": ") -> String {
    guard !counts.isEmpty else { return "" }
    return lead + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
  }

  private func mib(_ kib: Int) -> String { f(Double(kib) / 1024, 1) }

  private func f(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }
}
