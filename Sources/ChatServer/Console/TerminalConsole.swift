import CReadline
import Foundation
import Logging
import Synchronization

/// The console when stdin and stdout are a terminal: GNU readline with a
/// `chat> ` prompt, line editing, history and tab completion.
///
/// Readline is not thread-safe, so this console's thread owns the terminal:
/// it uses readline's callback interface, polling stdin and a wake-up pipe,
/// and it alone writes to the terminal. Log lines reach it through
/// `ConsoleLogSink`; it prints them, and command replies, above the prompt,
/// then redraws the prompt with the typed line and cursor intact.
struct TerminalConsole {
  static let prompt = "chat> "

  let console: OperatorConsole
  let logSink: ConsoleLogSink
  let historyFile: String?
  let logger: Logger
  private let output = FileDescriptorLogSink(fd: STDOUT_FILENO, ownsDescriptor: false)

  init(console: OperatorConsole, logSink: ConsoleLogSink, historyFile: String?, logger: Logger) {
    self.console = console
    self.logSink = logSink
    self.historyFile = historyFile
    self.logger = logger
  }

  /// Whether stdin and stdout are a terminal this process may read and set
  /// up: not when it runs in the background of a shell's job control (reading
  /// would stop it with SIGTTIN).
  static var isAvailable: Bool {
    guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else { return false }
    let foreground = tcgetpgrp(STDIN_FILENO)
    return foreground == -1 || foreground == getpgrp()
  }

  /// Runs on the console thread until end of input (Ctrl-D), `shutdown`, or `stop()`.
  func run(on thread: ConsoleThread) -> ConsoleThread.Outcome {
    // Logs go through this thread, if they go to this terminal, from before
    // the prompt first shows.
    if isatty(STDERR_FILENO) == 1 { logSink.attach(thread.wakeUp) }
    ReadlineBridge.install(console: console, history: ConsoleHistory(path: historyFile, logger: logger))
    var outcome = ConsoleThread.Outcome.stopped
    loop: while true {
      let ready = thread.wait(for: STDIN_FILENO)
      printAbovePrompt(logs: logSink.takePending())
      if ready.stop { break }
      if ready.inputClosed {
        outcome = .inputEnded
        break
      }
      guard ready.input else { continue }
      rl_callback_read_char()
      for line in ReadlineBridge.takeAcceptedLines() {
        guard let line else {
          outcome = .inputEnded
          break loop
        }
        let reply = console.execute(line: line)
        printAbovePrompt(logs: logSink.takePending(), reply: reply.lines)
        if reply.action == .shutdown {
          outcome = .shutdownRequested
          break loop
        }
      }
    }
    // Leave the cursor on an empty line and the terminal as it was.
    chat_console_rl_clear_line()
    ReadlineBridge.remove()?.save()
    logSink.detach()
    return outcome
  }

  private func printAbovePrompt(logs: [String], reply: [String] = []) {
    guard !logs.isEmpty || !reply.isEmpty else { return }
    chat_console_rl_clear_line()
    if !logs.isEmpty { FileDescriptorLogSink.standardError.write(line: logs.joined()) }
    if !reply.isEmpty { output.write(line: reply.joined(separator: "\n") + "\n") }
    chat_console_rl_redraw()
  }
}

/// Readline's C callbacks cannot capture context, and readline is one per
/// process anyway: this holds what they need. Only the terminal console's
/// thread calls readline; the locks are for Swift's sake, never contended.
enum ReadlineBridge {
  private static let acceptedLines = Mutex<[String?]>([])
  private static let console = Mutex<OperatorConsole?>(nil)
  private static let history = Mutex<ConsoleHistory?>(nil)
  private static let completions = Mutex<(words: [String], next: Int)>(([], 0))

  static func install(console: OperatorConsole, history: ConsoleHistory) {
    self.console.withLock { $0 = console }
    self.history.withLock { $0 = history }
    chat_console_rl_setup { text, start, end in
      chat_console_rl_completion_over()
      guard let text, let typed = rl_copy_text(0, end) else { return nil }
      defer { free(typed) }
      let words = ReadlineBridge.console.withLock { $0 }?.completions(for: String(cString: typed)) ?? []
      ReadlineBridge.completions.withLock { $0 = (words, 0) }
      return rl_completion_matches(text) { _, _ in
        ReadlineBridge.completions.withLock { state -> UnsafeMutablePointer<CChar>? in
          guard state.next < state.words.count else { return nil }
          defer { state.next += 1 }
          return strdup(state.words[state.next])
        }
      }
    }
    _ = rl_variable_bind("completion-ignore-case", "on")
    rl_callback_handler_install(TerminalConsole.prompt) { line in
      guard let line else {
        ReadlineBridge.acceptedLines.withLock { $0.append(nil) }
        return
      }
      let text = String(cString: line)
      free(line)
      // Here, not once rl_callback_read_char returns: by then readline has
      // begun the next line and taken the end of the history for it, so an
      // entry added later is the one that line edits, and accepting the
      // line overwrites that entry with what was typed at the prompt
      // (usually nothing): Up then brought back empty lines.
      ReadlineBridge.history.withLock { $0?.add(text) }
      ReadlineBridge.acceptedLines.withLock { $0.append(text) }
    }
  }

  /// The lines the operator entered since the last call; nil is end of input.
  static func takeAcceptedLines() -> [String?] {
    acceptedLines.withLock { lines in
      defer { lines = [] }
      return lines
    }
  }

  /// Returns the history, for the console to save.
  static func remove() -> ConsoleHistory? {
    rl_callback_handler_remove()
    console.withLock { $0 = nil }
    return history.withLock { history in
      defer { history = nil }
      return history
    }
  }
}
