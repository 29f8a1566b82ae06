import Foundation

/// A `chat-server` the benchmark starts itself: on 127.0.0.1 and a free port,
/// its console off (stdin is /dev/null, and `--no-console` is passed when the
/// binary has it), its log in a file whose `listening on HOST:PORT` line gives
/// the address.
public final class ServerProcess: Sendable {
  public let target: BenchTarget
  public let logPath: String
  /// The options it was started with.
  public let arguments: [String]
  private let process: Process

  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  private init(process: Process, target: BenchTarget, logPath: String, arguments: [String]) {
    self.process = process
    self.target = target
    self.logPath = logPath
    self.arguments = arguments
  }

  /// Starts `path` (with `extraArguments` after the benchmark's own) and
  /// waits (up to `timeout` seconds) until it listens.
  public static func spawn(
    path: String, extraArguments: [String] = [], timeout: Double = 30
  ) async throws -> ServerProcess {
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw Failure(description: "--spawn \(path) is not an executable file.")
    }
    let help = try helpText(of: path)
    var arguments = ["--host", "127.0.0.1", "--port", "0", "--log-level", "notice"]
    if help.contains("--no-console") { arguments.append("--no-console") }
    // Benchmarks measure the delivery path, not the rate limiter.
    if help.contains("--rate-limit") { arguments += ["--rate-limit", "off"] }
    // The delivery path, not the disk, unless the run asks for a store.
    if help.contains("--store"), !extraArguments.contains(where: { $0 == "--store" || $0.hasPrefix("--store=") }) { arguments += ["--store", "memory"] }
    arguments += extraArguments

    let logPath = NSTemporaryDirectory() + "chat-bench-server-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
    guard FileManager.default.createFile(atPath: logPath, contents: nil),
      let log = FileHandle(forWritingAtPath: logPath)
    else { throw Failure(description: "cannot create the server log \(logPath).") }
    defer { try? log.close() }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    process.standardOutput = log
    process.standardError = log
    try process.run()

    let deadline = BenchClock.now() + UInt64(timeout * 1e9)
    while BenchClock.now() < deadline {
      let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
      if let address = listeningAddress(in: text) {
        guard let target = BenchTarget(address: address, pid: process.processIdentifier) else {
          process.terminate()
          throw Failure(description: "the server logged an address that is not host:port: \(address)")
        }
        return ServerProcess(process: process, target: target, logPath: logPath, arguments: arguments)
      }
      if !process.isRunning {
        throw Failure(
          description: "the server exited with status \(process.terminationStatus) before listening; its log: \(logPath)")
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    process.terminate()
    throw Failure(description: "the server did not log `listening on` within \(timeout) s; its log: \(logPath)")
  }

  public var isRunning: Bool { process.isRunning }

  /// SIGTERM, then waits up to `timeout` seconds (SIGKILL after); returns how it exited.
  @discardableResult
  public func stop(timeout: Double = 10) async -> String {
    if process.isRunning { process.terminate() }
    let deadline = BenchClock.now() + UInt64(timeout * 1e9)
    while process.isRunning && BenchClock.now() < deadline {
      try? await Task.sleep(for: .milliseconds(20))
    }
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
      return "killed after not stopping within \(timeout) s of SIGTERM"
    }
    return exitDescription
  }

  /// How the process ended, e.g. "exit status 0" or "signal 11".
  public var exitDescription: String {
    if process.isRunning { return "running" }
    switch process.terminationReason {
    case .exit: return "exit status \(process.terminationStatus)"
    case .uncaughtSignal: return "signal \(process.terminationStatus)"
    @unknown default: return "status \(process.terminationStatus)"
    }
  }

  /// `HOST:PORT` from the first `listening on HOST:PORT` line.
  static func listeningAddress(in log: String) -> String? {
    guard let range = log.range(of: "listening on ") else { return nil }
    // The line counts once it is complete (its newline written).
    let rest = log[range.upperBound...]
    guard let end = rest.firstIndex(where: \.isNewline) else { return nil }
    let address = rest[..<end].prefix { !$0.isWhitespace }
    return address.isEmpty ? nil : String(address)
  }

  private static func helpText(of path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = ["--help"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
  }
}
