import ChatClientCore
import Foundation

/// Where the session reads its input and prints its output: a terminal with
/// line editing (`ReadlineConsole`) or plain lines from a file or a pipe
/// (`PlainConsole`).
protocol Console: SessionOutput {
  /// The lines typed, until the end of input.
  var lines: LineQueue { get }
  /// Whether a person types secrets here (so a sign-up asks for its password twice).
  var isTerminal: Bool { get }
  /// A password: read without echo from a terminal, or the next line of a script (which is
  /// never echoed either). nil at the end of input or on Ctrl-C.
  func readSecret(prompt: String) async -> String?
  /// Whether the session should print each line it reads: nobody sees what a
  /// script types, so a transcript shows it.
  var echoesInput: Bool { get }
  /// Starts reading input (after Welcome: nothing is read before).
  func start()
  /// Stops reading and leaves the terminal as it found it.
  func stop() async
}

/// Reads standard input line by line on a thread of its own (reading blocks,
/// and must not hold up one of the few threads Swift concurrency runs on).
/// Each line printed is one `write(2)`, unbuffered, so a reader of the
/// output sees it at once.
final class PlainConsole: Console {
  let lines = LineQueue()
  private var input: LineQueue { lines }

  var echoesInput: Bool { true }
  var isTerminal: Bool { false }

  func readSecret(prompt: String) async -> String? {
    await lines.next()
  }

  func start() {
    let input = self.input
    // Lines read ahead wait in the stream; nothing reads them after stop().
    Thread.detachNewThread {
      while let line = readLine(strippingNewline: true) { input.yield(line) }
      input.finish()
    }
  }

  func print(_ line: String) {
    writeLine(line, to: STDOUT_FILENO)
  }

  func stop() {
    input.finish()
  }
}

/// Writes `line` and a newline with as few `write(2)` calls as it takes.
func writeLine(_ line: String, to fd: Int32) {
  var text = line + "\n"
  text.withUTF8 { bytes in
    var offset = 0
    while offset < bytes.count {
      let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
      if written < 0 && errno == EINTR { continue }
      if written <= 0 { return }
      offset += written
    }
  }
}
