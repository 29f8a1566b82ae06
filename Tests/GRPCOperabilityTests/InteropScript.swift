import ChatTestSupport
import Foundation
import Synchronization

/// One run of a Python script from `interop/` (`python3 -u script args`),
/// its standard output as lines as they come.
final class InteropScript: Sendable {
  /// Standard output, line by line; finishes when the script closes it.
  let lines: AsyncStream<String>
  private let exit: AsyncStream<Int32>
  private let process: Process
  private let output = Output()

  /// Filled by the pipes' handlers, on Foundation's threads.
  private final class Output: Sendable {
    struct Buffers {
      var pendingStdout = Data()
      var stderr = Data()
    }
    let buffers = Mutex(Buffers())
  }

  init(_ script: String, _ arguments: [String]) throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("interop").appendingPathComponent(script).path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-u", path] + arguments
    let stdout = Pipe.closedOnExec()
    let stderr = Pipe.closedOnExec()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    self.process = process

    let (lines, linesContinuation) = AsyncStream.makeStream(of: String.self)
    self.lines = lines
    let (exit, exitContinuation) = AsyncStream.makeStream(of: Int32.self)
    self.exit = exit

    let output = self.output
    stdout.fileHandleForReading.readabilityHandler = { handle in
      let data = handle.availableData
      // Split under the lock, yield after it.
      let complete: [String] = output.buffers.withLock { output in
        output.pendingStdout.append(data)
        var complete: [String] = []
        while let newline = output.pendingStdout.firstIndex(of: UInt8(ascii: "\n")) {
          let line = output.pendingStdout[output.pendingStdout.startIndex..<newline]
          complete.append(String(decoding: line, as: UTF8.self))
          output.pendingStdout.removeSubrange(output.pendingStdout.startIndex...newline)
        }
        return complete
      }
      for line in complete { linesContinuation.yield(line) }
      if data.isEmpty {
        handle.readabilityHandler = nil
        linesContinuation.finish()
      }
    }
    stderr.fileHandleForReading.readabilityHandler = { handle in
      let data = handle.availableData
      if data.isEmpty { handle.readabilityHandler = nil }
      output.buffers.withLock { $0.stderr.append(data) }
    }
    process.terminationHandler = { process in
      exitContinuation.yield(process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus)
      exitContinuation.finish()
    }
    try process.run()
  }

  /// The exit status (128 + the signal if one ended it).
  func exitStatus() async -> Int32? {
    for await status in exit { return status }
    return nil
  }

  /// What the script wrote to standard error so far.
  var stderr: String { output.buffers.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

  /// Kills the script if it is still running (after a timeout).
  func kill() {
    if process.isRunning { process.terminate() }
  }

  /// Runs `script` to its end, calling `onLine` with each line as it comes;
  /// every line, and the exit status. The script is killed if it takes longer
  /// than `seconds`.
  static func run(
    _ script: String, _ arguments: [String], timeout seconds: Double = 60,
    onLine: @escaping @Sendable (String) -> Void = { _ in }
  ) async throws -> (lines: [String], status: Int32?, stderr: String) {
    let run = try InteropScript(script, arguments)
    do {
      return try await withTimeout(seconds, script) {
        var lines: [String] = []
        for await line in run.lines {
          lines.append(line)
          onLine(line)
        }
        return (lines, await run.exitStatus(), run.stderr)
      }
    } catch {
      run.kill()
      throw error
    }
  }
}
