import ChatTestSupport
import Foundation
import Synchronization

/// The built `chat-client` executable, run with its standard input and output
/// on pipes: the test types lines and waits for what it prints.
final class ChatClientProcess {
  let name: String
  let output = Transcript()
  private let process: Process
  private let input = Pipe.closedOnExec()
  private let exit: ProcessExit

  /// Where this client keeps account tokens: a new directory unless a test shares one.
  let tokenDirectory: URL
  /// Whether `tokenDirectory` is this client's new one, removed when the client
  /// goes; a test that shares it keeps this client until the sharer is done.
  private let ownsTokenDirectory: Bool

  /// - Parameters:
  ///   - name: the name argument; nil starts the client without one.
  ///   - environment: added to the test's (`CHAT_PASSWORD`, say).
  init(
    _ name: String?, port: Int, arguments: [String] = [], tokenDirectory sharedTokenDirectory: URL? = nil,
    environment: [String: String] = [:]
  ) throws {
    let tokenDirectory =
      sharedTokenDirectory
      ?? FileManager.default.temporaryDirectory.appendingPathComponent("chat-client-e2e-\(UUID().uuidString)")
    self.tokenDirectory = tokenDirectory
    ownsTokenDirectory = sharedTokenDirectory == nil
    // A client that has exited must fail the test, not kill it when the
    // test writes to its standard input.
    signal(SIGPIPE, SIG_IGN)
    self.name = name ?? "(no name)"
    let process = Process()
    self.process = process
    exit = ProcessExit(process)
    process.executableURL = try Self.executable()
    process.arguments =
      (name.map { [$0] } ?? []) + ["--server", "127.0.0.1:\(port)", "--token-dir", tokenDirectory.path] + arguments
    if !environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    process.standardInput = input
    let stdout = Pipe.closedOnExec()
    process.standardOutput = stdout
    process.standardError = stdout
    stdout.fileHandleForReading.readabilityHandler = { [output] handle in
      let data = handle.availableData
      if data.isEmpty {
        handle.readabilityHandler = nil
        output.close()
      } else {
        output.append(data)
      }
    }
    try exit.run(process)
  }

  deinit {
    if process.isRunning { process.terminate() }
    if ownsTokenDirectory { try? FileManager.default.removeItem(at: tokenDirectory) }
  }

  /// Types one line.
  func type(_ line: String) {
    input.fileHandleForWriting.write(Data((line + "\n").utf8))
  }

  /// Ends standard input, as at the end of a script.
  func endInput() throws {
    try input.fileHandleForWriting.close()
  }

  /// Waits for the next line (after the last one waited for) that contains
  /// `text`; fails with everything printed so far if none comes.
  @discardableResult
  func expect(_ text: String, seconds: Double = 5) async throws -> String {
    let line = try? await withTimeout(seconds, "\(name) to print \(text)") { [output] in
      await output.line { $0.contains(text) }
    }
    guard let line else {
      throw ClientOutputError(name: name, expected: text, printed: output.everything)
    }
    return line
  }

  /// The exit status, within `seconds`.
  func exitStatus(seconds: Double = 5) async throws -> Int32? {
    try await withTimeout(seconds, "\(name) to exit") { [exit] in await exit.status() }
  }

  /// The directory of the running test bundle or one of its parents holds
  /// every product of the build, `chat-client` among them.
  private static func executable() throws -> URL {
    var directory = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    while directory.pathComponents.count > 1 {
      directory.deleteLastPathComponent()
      let candidate = directory.appendingPathComponent("chat-client")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "chat-client next to \(CommandLine.arguments[0])"])
  }
}

struct ClientOutputError: Error, CustomStringConvertible {
  let name: String
  let expected: String
  let printed: [String]
  var description: String {
    "\(name) did not print '\(expected)'; it printed:\n" + printed.joined(separator: "\n")
  }
}

/// Everything a process printed, as lines, and a cursor: `line(where:)`
/// waits for the first line past the cursor that matches, and moves the
/// cursor past it.
final class Transcript: Sendable {
  private struct State {
    var pending: [UInt8] = []
    var lines: [String] = []
    var cursor = 0
    var closed = false
    var waiter: (match: @Sendable (String) -> Bool, continuation: CheckedContinuation<String?, Never>)?

    /// Finds a match for the waiter, or nil if it must go on waiting.
    mutating func match(_ match: (String) -> Bool) -> String?? {
      if let index = lines[cursor...].firstIndex(where: match) {
        cursor = index + 1
        return .some(lines[index])
      }
      return closed ? .some(nil) : .none
    }

    /// The waiter and what to resume it with, if it can stop waiting.
    mutating func resumeWaiterIfMatched() -> (CheckedContinuation<String?, Never>, String?)? {
      guard let waiter else { return nil }
      guard let found = match(waiter.match) else { return nil }
      self.waiter = nil
      return (waiter.continuation, found)
    }
  }
  private let state = Mutex(State())

  var everything: [String] { state.withLock { $0.lines } }

  func append(_ data: Data) {
    let resume = state.withLock { state -> (CheckedContinuation<String?, Never>, String?)? in
      state.pending += data
      while let newline = state.pending.firstIndex(of: UInt8(ascii: "\n")) {
        state.lines.append(String(decoding: state.pending[..<newline], as: UTF8.self))
        state.pending.removeSubrange(...newline)
      }
      return state.resumeWaiterIfMatched()
    }
    if let (continuation, line) = resume { continuation.resume(returning: line) }
  }

  func close() {
    let resume = state.withLock { state -> (CheckedContinuation<String?, Never>, String?)? in
      if !state.pending.isEmpty {
        state.lines.append(String(decoding: state.pending, as: UTF8.self))
        state.pending = []
      }
      state.closed = true
      return state.resumeWaiterIfMatched()
    }
    if let (continuation, line) = resume { continuation.resume(returning: line) }
  }

  /// The next matching line; nil if the output ends first or the waiting task
  /// is cancelled.
  func line(where match: @escaping @Sendable (String) -> Bool) async -> String? {
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let found: String?? = state.withLock { state in
          if Task.isCancelled { return .some(nil) }
          let found = state.match(match)
          if found == nil { state.waiter = (match, continuation) }
          return found
        }
        if let found { continuation.resume(returning: found) }
      }
    } onCancel: {
      let waiter = state.withLock { $0.waiter.take() }
      waiter?.continuation.resume(returning: nil)
    }
  }
}

