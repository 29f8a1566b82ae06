import Foundation

/// CPU time and memory of a process, read from /proc (Linux).
struct ProcessSample: Sendable {
  /// User plus system CPU time.
  var cpuSeconds: Double
  /// Resident set size.
  var rssKiB: Int
  /// Peak resident set size (VmHWM).
  var peakRSSKiB: Int
  var takenAt: UInt64

  /// Reads /proc/PID/stat (utime + stime, in clock ticks) and
  /// /proc/PID/status (VmRSS, VmHWM); nil once the process is gone.
  static func read(pid: Int32) -> ProcessSample? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
      let cpu = cpuSeconds(stat: stat)
    else { return nil }
    return ProcessSample(
      cpuSeconds: cpu, rssKiB: kibibytes("VmRSS:", in: status) ?? 0,
      peakRSSKiB: kibibytes("VmHWM:", in: status) ?? 0, takenAt: BenchClock.now())
  }

  /// This process, from getrusage (CPU) and /proc/self/status (memory).
  static func ofSelf() -> ProcessSample {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    let cpu =
      Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
      + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    return ProcessSample(
      cpuSeconds: cpu, rssKiB: kibibytes("VmRSS:", in: status) ?? 0,
      peakRSSKiB: kibibytes("VmHWM:", in: status) ?? 0, takenAt: BenchClock.now())
  }

  /// Fields 14 and 15 of /proc/PID/stat, counted after the command name,
  /// which is in parentheses and may itself hold spaces.
  static func cpuSeconds(stat: String) -> Double? {
    guard let close = stat.lastIndex(of: ")") else { return nil }
    // After ")": field 3 (state) is at index 0, so utime (14) is at 11.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
    return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
  }

  static func kibibytes(_ key: String, in status: String) -> Int? {
    for line in status.split(separator: "\n") where line.hasPrefix(key) {
      return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }
    return nil
  }
}

/// What a process did between two samples.
struct ProcessDelta: Sendable {
  let before: ProcessSample
  let after: ProcessSample

  var cpuSeconds: Double { after.cpuSeconds - before.cpuSeconds }
  var wallSeconds: Double { BenchClock.seconds(from: before.takenAt, to: after.takenAt) }
  /// Cores kept busy on average.
  var cores: Double { wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 }
}

/// CPU time of the whole machine (every process), from /proc/stat, so a
/// report can say how much of it other processes took during a run.
struct MachineSample: Sendable {
  /// Busy time (all but idle and iowait) over all cores.
  var busySeconds: Double
  var takenAt: UInt64

  static func read() -> MachineSample? {
    guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
      let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ")
    else { return nil }
    let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard ticks.count >= 5 else { return nil }
    // user nice system idle iowait irq softirq steal (guest time is in user already).
    let busy = ticks.prefix(8).enumerated().filter { $0.offset != 3 && $0.offset != 4 }.reduce(0) { $0 + $1.element }
    return MachineSample(busySeconds: busy / Double(sysconf(Int32(_SC_CLK_TCK))), takenAt: BenchClock.now())
  }

  /// Cores kept busy on average between `self` and `later`.
  func cores(until later: MachineSample) -> Double {
    let wall = BenchClock.seconds(from: takenAt, to: later.takenAt)
    return wall > 0 ? (later.busySeconds - busySeconds) / wall : 0
  }
}
