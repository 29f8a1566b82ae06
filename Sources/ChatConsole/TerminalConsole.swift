import ChatCore
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

  /// Whether stdin and stdout are a terminal.
  static var isAvailable: Bool {
    isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
  }

  /// How one spell of line editing ended.
  private enum Spell {
    case ended(ConsoleThread.Outcome)
    /// The process is in the background of the terminal now (the operator
    /// suspended it and ran `bg`): the terminal is the shell's until `fg`.
    case background
  }

  /// Runs on the console thread until end of input (Ctrl-D), `shutdown`, or
  /// `stop()`. While the server is in the background of the terminal
  /// (`chat-server &`), the console waits, and takes the terminal once the
  /// server is brought to the foreground.
  func run(on thread: ConsoleThread) -> ConsoleThread.Outcome {
    ReadlineBridge.setUp(console: console, history: ConsoleHistory(path: historyFile, logger: logger))
    defer { ReadlineBridge.tearDown()?.save() }
    while true {
      guard thread.waitForForeground(of: STDIN_FILENO, logger: logger) else { return .stopped }
      switch edit(on: thread) {
      case .ended(let outcome): return outcome
      case .background: continue
      }
    }
  }

  /// Reads and runs lines with readline until the console ends or the
  /// process finds itself in the background.
  private func edit(on thread: ConsoleThread) -> Spell {
    // Logs go through this thread, if they go to this terminal, from before
    // the prompt first shows.
    if isatty(STDERR_FILENO) == 1 { logSink.attach(thread.wakeUp) }
    ReadlineBridge.install()
    var modes = JobControl.lineModes(STDIN_FILENO)
    while true {
      // No event says that the shell took the terminal (Ctrl-Z, then bg) or
      // gave it back (fg) while no key was pressed: look now and then.
      let ready = thread.wait(for: STDIN_FILENO, timeoutMilliseconds: JobControl.foregroundCheckMilliseconds)
      // Before anything touches the terminal: in the background it is the shell's.
      guard JobControl.isForeground(STDIN_FILENO) else { return leaveToShell() }
      if JobControl.lineModes(STDIN_FILENO) != modes {
        // Stopped and brought back (Ctrl-Z, fg): the shell set the terminal
        // up for itself meanwhile. Readline sets it up again, with a new prompt.
        ReadlineBridge.remove()
        ReadlineBridge.install()
        modes = JobControl.lineModes(STDIN_FILENO)
      }
      printAbovePrompt(logs: logSink.takePending())
      if ready.stop { return end(.stopped) }
      if ready.inputClosed { return end(.inputEnded) }
      guard ready.input else { continue }
      rl_callback_read_char()
      for line in ReadlineBridge.takeAcceptedLines() {
        guard let line else {
          // Readline takes a failed read for end of input; it fails (EIO)
          // when the process went to the background after the check above.
          guard JobControl.isForeground(STDIN_FILENO) else { return leaveToShell() }
          return end(.inputEnded)
        }
        let reply = console.execute(line: line)
        printAbovePrompt(logs: logSink.takePending(), reply: reply.lines)
        if reply.action == .shutdown { return end(.shutdownRequested) }
      }
    }
  }

  /// Leaves the cursor on an empty line and the terminal as it was.
  private func end(_ outcome: ConsoleThread.Outcome) -> Spell {
    chat_console_rl_clear_line()
    ReadlineBridge.remove()
    logSink.detach()
    return .ended(outcome)
  }

  /// Lets go of the terminal without disturbing the shell that has it now.
  private func leaveToShell() -> Spell {
    // Readline puts back the settings it found when it took the terminal;
    // the ones to keep are the shell's, as they are now.
    var settings = termios()
    let saved = tcgetattr(STDIN_FILENO, &settings) == 0
    ReadlineBridge.remove()
    if saved { tcsetattr(STDIN_FILENO, TCSANOW, &settings) }
    logSink.detach()
    return .background
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

  /// Readline's settings, and what its callbacks reach, for one console run.
  static func setUp(console: OperatorConsole, history: ConsoleHistory) {
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
  }

  /// Shows the prompt and takes the terminal (readline sets it up).
  static func install() {
    rl_callback_handler_install(TerminalConsole.prompt) { line in
      guard let line else {
        // End of input. Removing the handler here, as readline's own example
        // does, keeps readline from drawing a new prompt and taking the
        // terminal again.
        rl_callback_handler_remove()
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

  /// Gives the terminal back (readline restores its settings).
  static func remove() {
    rl_callback_handler_remove()
  }

  /// Returns the history, for the console to save.
  static func tearDown() -> ConsoleHistory? {
    console.withLock { $0 = nil }
    return history.withLock { history in
      defer { history = nil }
      return history
    }
  }
}
