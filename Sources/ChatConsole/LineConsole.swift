import ChatCore
import Foundation

/// The console when stdin is not a terminal (a pipe, a file, /dev/null):
/// commands line by line, replies to stdout, no prompt, no echo.
struct LineConsole {
  let console: OperatorConsole
  let input: Int32
  let output: FileDescriptorLogSink

  /// A line longer than this is refused rather than buffered.
  static let maxLineBytes = 64 * 1024

  init(console: OperatorConsole, input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO) {
    self.console = console
    self.input = input
    self.output = FileDescriptorLogSink(fd: output, ownsDescriptor: false)
  }

  /// Runs on the console thread until end of input, `shutdown`, or `stop()`.
  /// Input from a terminal (with stdout elsewhere) is read only while the
  /// server is in its foreground.
  func run(on thread: ConsoleThread) -> ConsoleThread.Outcome {
    let isTerminal = isatty(input) == 1
    var pending: [UInt8] = []
    var discarding = false
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
      if isTerminal && !thread.waitForForeground(of: input, logger: console.logger) { return .stopped }
      let ready = thread.wait(for: input)
      if ready.stop { return .stopped }
      if ready.inputClosed { return .inputEnded }
      guard ready.input else { continue }
      // In the background now: wait above, rather than read.
      if isTerminal && !JobControl.isForeground(input) { continue }
      let count = read(input, &chunk, chunk.count)
      if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
      // EIO: the process went to the background after the check.
      if count < 0 && errno == EIO && isTerminal && !JobControl.isForeground(input) { continue }
      guard count > 0 else {
        // A last line without its newline still counts.
        if !pending.isEmpty && !discarding && execute(pending[...]) == .shutdown { return .shutdownRequested }
        return .inputEnded
      }
      pending += chunk[..<count]
      while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
        let line = pending[..<newline]
        defer { pending.removeSubrange(...newline) }
        if discarding {
          discarding = false
          continue
        }
        if execute(line) == .shutdown { return .shutdownRequested }
      }
      if pending.count > Self.maxLineBytes {
        pending = []
        discarding = true
        reply(ConsoleReply.error("line longer than \(Self.maxLineBytes) bytes: end each command with a newline."))
      }
    }
  }

  private func execute(_ line: ArraySlice<UInt8>) -> ConsoleReply.Action {
    let text = String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
    let reply = console.execute(line: text)
    self.reply(reply)
    return reply.action
  }

  private func reply(_ reply: ConsoleReply) {
    guard !reply.lines.isEmpty else { return }
    output.write(line: reply.lines.joined(separator: "\n") + "\n")
  }
}
