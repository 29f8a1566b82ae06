import ChatTestSupport
import Foundation
import Synchronization
import Testing

/// Everything read so far from one of a child process's outputs, and ways
/// to wait for what the test expects in it.
final class OutputCollector: Sendable {
  private struct State {
    var bytes: [UInt8] = []
    /// Bytes `nextLines` has handed out.
    var consumed = 0
    var ended = false
    var version = 0
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    var nextWaiterID = 0
  }

  struct EndedEarly: Error, CustomStringConvertible {
    let what: String
    let text: String
    var description: String { "output ended before \(what); it was:\n\(text)" }
  }

  private let state = Mutex(State())
  let name: String

  /// Reads `fd` on a thread of its own until end of file (or EIO, for a
  /// pseudo-terminal whose other side closed), then closes it.
  init(name: String, reading fd: Int32) {
    self.name = name
    let thread = Thread { [self] in
      var chunk = [UInt8](repeating: 0, count: 4096)
      while true {
        let count = read(fd, &chunk, chunk.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        self.changed { $0.bytes += chunk[..<count] }
      }
      close(fd)
      self.changed { $0.ended = true }
    }
    thread.start()
  }

  var text: String { state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }

  /// Waits until the output contains `needle`; returns all of it.
  @discardableResult
  func waitFor(_ needle: String, timeout: Double = 5) async throws -> String {
    try await wait("\(name) to show \(needle.debugDescription)", timeout: timeout) { state in
      let text = String(decoding: state.bytes, as: UTF8.self)
      return text.contains(needle) ? text : nil
    }
  }

  /// Waits until `predicate` holds for the output; returns all of it.
  @discardableResult
  func waitUntil(_ what: String, timeout: Double = 5, _ predicate: @escaping @Sendable (String) -> Bool) async throws
    -> String
  {
    try await wait("\(name) to show \(what)", timeout: timeout) { state in
      let text = String(decoding: state.bytes, as: UTF8.self)
      return predicate(text) ? text : nil
    }
  }

  /// The next `count` lines not handed out yet.
  func nextLines(_ count: Int, timeout: Double = 5) async throws -> [String] {
    try await wait("\(count) more lines on \(name)", timeout: timeout) { state in
      var lines: [String] = []
      var start = state.consumed
      for index in state.consumed..<state.bytes.count where state.bytes[index] == UInt8(ascii: "\n") {
        lines.append(String(decoding: state.bytes[start..<index], as: UTF8.self))
        start = index + 1
        if lines.count == count {
          state.consumed = start
          return lines
        }
      }
      return nil
    }
  }

  /// Waits for end of file.
  func waitForEnd(timeout: Double = 5) async throws {
    try await wait("\(name) to end", timeout: timeout, endedIsSuccess: true) { $0.ended ? () : nil }
  }

  private func wait<T: Sendable>(
    _ what: String, timeout: Double, endedIsSuccess: Bool = false,
    _ check: @escaping @Sendable (inout State) -> T?
  ) async throws -> T {
    try await withTimeout(timeout, what) {
      while true {
        let (result, version, ended) = self.state.withLock { state in (check(&state), state.version, state.ended) }
        if let result { return result }
        if ended && !endedIsSuccess { throw EndedEarly(what: what, text: self.text) }
        await self.change(after: version)
        try Task.checkCancellation()
      }
    }
  }

  private func changed(_ update: (inout State) -> Void) {
    let waiters = state.withLock { state in
      update(&state)
      state.version += 1
      defer { state.waiters = [:] }
      return state.waiters.values
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns once something changed after `version`, or the task is cancelled.
  private func change(after version: Int) async {
    let id = state.withLock { state in
      defer { state.nextWaiterID += 1 }
      return state.nextWaiterID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let now = state.withLock { state in
          if state.version != version || Task.isCancelled { return true }
          state.waiters[id] = continuation
          return false
        }
        if now { continuation.resume() }
      }
    } onCancel: {
      let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
      waiter?.resume()
    }
  }
}

/// The real `chat-server` executable, run on port 0 with the console on
/// stdin: a pipe, or a pseudo-terminal.
final class ServerProcess: Sendable {
  let process: Process
  private let exit: ProcessExit
  let stdout: OutputCollector
  let stderr: OutputCollector
  /// Writes to the console's stdin.
  private let input: FileHandle
  let port: Int

  struct NotFound: Error, CustomStringConvertible {
    let path: String
    var description: String { "no chat-server executable at \(path): run `swift build` first" }
  }

  /// `chat-server`, next to the test binary in the build products directory.
  static var executable: URL {
    get throws {
      let products = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        .deletingLastPathComponent()
      let url = products.appendingPathComponent("chat-server")
      guard FileManager.default.isExecutableFile(atPath: url.path) else { throw NotFound(path: url.path) }
      return url
    }
  }

  /// `arguments`, on the memory store unless they name one: tests run in
  /// parallel and must not share ./chat-data.
  static func withStore(_ arguments: [String]) -> [String] {
    arguments.contains("--store") ? arguments : arguments + ["--store", "memory"]
  }

  /// Starts the server with stdin, stdout and stderr pipes.
  static func start(_ arguments: [String] = []) async throws -> ServerProcess {
    let stdin = Pipe.closedOnExec()
    let stdout = Pipe.closedOnExec()
    let stderr = Pipe.closedOnExec()
    let process = Process()
    process.executableURL = try executable
    process.arguments = ["--port", "0"] + withStore(arguments)
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    let exit = ProcessExit(process)
    try exit.run(process)
    return try await ServerProcess(
      process: process, exit: exit, input: stdin.fileHandleForWriting,
      stdout: OutputCollector(name: "stdout", reading: dup(stdout.fileHandleForReading.fileDescriptor)),
      stderr: OutputCollector(name: "stderr", reading: dup(stderr.fileHandleForReading.fileDescriptor)))
  }

  /// Starts the server with a pseudo-terminal as stdin, stdout and stderr.
  static func startInTerminal(_ arguments: [String] = [], environment: [String: String]) async throws -> ServerProcess {
    var controller: Int32 = -1
    var terminal: Int32 = -1
    var size = winsize(ws_row: 24, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0)
    guard openpty(&controller, &terminal, nil, nil, &size) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
    _ = fcntl(controller, F_SETFD, FD_CLOEXEC)
    let process = Process()
    process.executableURL = try executable
    process.arguments = ["--port", "0"] + withStore(arguments)
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let handle = FileHandle(fileDescriptor: terminal, closeOnDealloc: true)
    process.standardInput = handle
    process.standardOutput = handle
    process.standardError = handle
    let exit = ProcessExit(process)
    try exit.run(process)
    // Only the child keeps the terminal side open, so reading ends when it exits.
    try handle.close()
    let output = OutputCollector(name: "terminal", reading: controller)
    return try await ServerProcess(
      process: process, exit: exit, input: FileHandle(fileDescriptor: dup(controller), closeOnDealloc: true),
      stdout: output, stderr: output)
  }

  private init(
    process: Process, exit: ProcessExit, input: FileHandle, stdout: OutputCollector, stderr: OutputCollector
  ) async throws {
    self.process = process
    self.exit = exit
    self.input = input
    self.stdout = stdout
    self.stderr = stderr
    do {
      let log = try await stderr.waitFor(" listening on 127.0.0.1:", timeout: 20)
      // `… notice listening on 127.0.0.1:PORT host=… port=…`
      let address = log.split(separator: " listening on ", maxSplits: 1)[1].prefix { !$0.isWhitespace }
      self.port = try #require(address.split(separator: ":").last.flatMap { Int($0) }, "no port in \(address)")
    } catch {
      if process.isRunning { process.terminate() }
      throw error
    }
  }

  deinit {
    if process.isRunning { process.interrupt() }
  }

  /// Types (or pipes) `text` into the console.
  func type(_ text: String) throws {
    try input.write(contentsOf: Data(text.utf8))
  }

  /// End of input.
  func closeInput() throws {
    try input.close()
  }

  func signal(_ signal: Int32) {
    kill(process.processIdentifier, signal)
  }

  /// The exit status, once the process exited within `seconds`.
  func exitStatus(within seconds: Double = 5) async throws -> Int32 {
    let status = try await withTimeout(seconds, "chat-server to exit") { [exit] in await exit.status() }
    return try #require(status)
  }
}

/// What a plain (TERM=dumb) terminal shows for `output`: carriage return,
/// newline and backspace move the cursor, other characters overwrite what
/// is under it; escape sequences and bells are skipped, trailing spaces
/// trimmed.
func renderedScreen(_ output: String) -> [String] {
  var lines: [[Unicode.Scalar]] = [[]]
  var column = 0
  var scalars = output.unicodeScalars.makeIterator()
  while let scalar = scalars.next() {
    switch scalar {
    case "\r": column = 0
    case "\n": lines.append([])
    case "\u{8}": column = max(0, column - 1)
    case "\u{7}": break
    case "\u{1B}":
      // CSI: parameters up to a final byte from @ to ~.
      guard scalars.next() == "[" else { break }
      while let next = scalars.next(), !(0x40...0x7E).contains(next.value) {}
    default:
      var line = lines[lines.count - 1]
      while line.count < column { line.append(" ") }
      if column < line.count { line[column] = scalar } else { line.append(scalar) }
      lines[lines.count - 1] = line
      column += 1
    }
  }
  return lines.map { line in
    var text = String(String.UnicodeScalarView(line))
    while text.last == " " { text.removeLast() }
    return text
  }
}
