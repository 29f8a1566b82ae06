import Foundation

/// Medians of repeated runs, as a Markdown table: `chat-bench summarize`
/// reads the JSON reports `scripts/bench.sh` writes (`NAME-RUN.json`).
public enum BenchSummary {
  /// The figures a summary row needs, as they appear in a report's JSON.
  struct Figures: Decodable {
    struct Latency: Decodable { var p50, p90, p99, p999, max: Double }
    struct Connect: Decodable { var sessions, welcomed: Int; var seconds: Double }
    struct Usage: Decodable {
      var cores: Double
      var cpuMicrosPerDelivery: Double?
      var cpuMicrosPerSession: Double?
      var rssAfterKiB: Int
      var rssGrowthPerSessionKiB: Double?
    }

    var scenario: String
    var ok: Bool
    var lost: Int
    var messagesSent: Int
    var deliveriesReceived: Int
    var deliveriesPerSecond: Double
    var connect: Connect
    var latency: Latency?
    var sendLatency: Latency?
    var messagesPerSecond: Double
    var server: Usage?
    var bench: Usage
    var otherCores: Double?
  }

  /// One row per run name, in the order the names first appear in `files`;
  /// `skipped` lists files that are not reports (e.g. a run cut short).
  public static func markdown(files: [String]) -> (table: String, skipped: [String]) {
    var runs: [String: [Figures]] = [:]
    var order: [String] = []
    var skipped: [String] = []
    for file in files {
      guard let data = try? Data(contentsOf: URL(fileURLWithPath: file)),
        let figures = try? JSONDecoder().decode(Figures.self, from: data)
      else {
        skipped.append(file)
        continue
      }
      let name = runName(file)
      if runs[name] == nil { order.append(name) }
      runs[name, default: []].append(figures)
    }
    var lines = [
      "| run | ok | lost | messages | deliveries/s | server µs/delivery | server cores | bench cores | p50 ms | p99 ms | p99.9 ms | max ms | send p99 ms | messages/s | connect s | server KiB/session | server µs/session | server RSS MiB | other cores |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in order {
      let group = runs[name]!
      let messaging = group[0].scenario != "sessions"
      func m(_ value: (Figures) -> Double?, _ digits: Int = 2) -> String {
        let values = group.compactMap(value).sorted()
        guard !values.isEmpty else { return "–" }
        return String(format: "%.\(digits)f", ChatBench.median(values))
      }
      let cells = [
        name,
        "\(group.count { $0.ok })/\(group.count)",
        "\(group.map(\.lost).max() ?? 0)",
        messaging ? m({ Double($0.messagesSent) }, 0) : "–",
        messaging ? m({ $0.deliveriesPerSecond }, 0) : "–",
        m({ $0.server?.cpuMicrosPerDelivery }),
        m({ $0.server?.cores }),
        m({ $0.bench.cores }),
        m({ $0.latency?.p50 }),
        m({ $0.latency?.p99 }),
        m({ $0.latency?.p999 }),
        m({ $0.latency?.max }),
        m({ $0.sendLatency?.p99 }),
        messaging ? m({ $0.messagesPerSecond }, 0) : "–",
        m({ $0.connect.seconds }, 3),
        messaging ? "–" : m({ $0.server?.rssGrowthPerSessionKiB }, 1),
        messaging ? "–" : m({ $0.server?.cpuMicrosPerSession }, 1),
        m({ $0.server.map { Double($0.rssAfterKiB) / 1024 } }, 1),
        m({ $0.otherCores }),
      ]
      lines.append("| " + cells.joined(separator: " | ") + " |")
    }
    return (lines.joined(separator: "\n"), skipped)
  }

  /// `out/fanout-1000-flood-2.json` → `fanout-1000-flood`.
  static func runName(_ file: String) -> String {
    var name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
    if let dash = name.lastIndex(of: "-"), Int(name[name.index(after: dash)...]) != nil {
      name = String(name[..<dash])
    }
    return name
  }
}
