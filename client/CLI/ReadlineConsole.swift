import ChatClientCore
// readline's state is C globals, which Swift 6 cannot prove safe; here only
// the readline thread (and readline's callbacks, on that thread) touch them.
@preconcurrency import CReadline
import Foundation
import Synchronization

/// A terminal with GNU readline: history, Tab completion, and lines from the
/// server printed above the prompt without disturbing what is being typed.
///
/// One thread owns readline and the terminal. It uses readline's callback
/// interface: it waits (`poll`) for a key on standard input or for a byte
/// on a wake-up pipe, which other threads write to after queueing a line to
/// print or a change of prompt. Ctrl-D, Ctrl-C and SIGTERM end the input; the
/// terminal's settings are restored before the client exits.
final class ReadlineConsole: Console {
  private enum Phase {
    case idle, running, stopped
  }

  /// What other threads ask of the readline thread.
  private struct Requests {
    var phase = Phase.idle
    var output: [String] = []
    var prompt: String?
    var endInput = false
    /// Who waits in `stop()` for the thread to restore the terminal.
    var stopWaiter: CheckedContinuation<Void, Never>?
    /// Kept for as long as the console runs.
    var signalSources: [any DispatchSourceSignal] = []
    /// A password to read without echo, and who waits for it.
    var secret: (prompt: String, reader: CheckedContinuation<String?, Never>)?
  }

  let lines = LineQueue()
  private var input: LineQueue { lines }
  private let requests = Mutex(Requests())
  private let wakeUp: (read: Int32, write: Int32)

  init() {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0, "cannot create a pipe")
    // A full pipe already holds a wake-up: writers never wait for the reader.
    _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
    wakeUp = (fds[0], fds[1])
  }

  var echoesInput: Bool { false }
  var isTerminal: Bool { true }

  func readSecret(prompt: String) async -> String? {
    await withCheckedContinuation { reader in
      let queued = requests.withLock { requests in
        guard requests.phase == .running, requests.secret == nil, !requests.endInput else { return false }
        requests.secret = (prompt, reader)
        return true
      }
      if queued { wake() } else { reader.resume(returning: nil) }
    }
  }

  static var isAvailable: Bool {
    isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
  }

  func start() {
    let started = requests.withLock { requests in
      guard requests.phase == .idle else { return false }
      requests.phase = .running
      // Ctrl-C and the like end the input as Ctrl-D does, so that the
      // terminal is restored rather than left without echo.
      requests.signalSources = [SIGINT, SIGTERM, SIGHUP].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { [self] in
          self.requests.withLock { $0.endInput = true }
          self.wake()
        }
        source.resume()
        return source
      }
      return true
    }
    if started {
      Thread.detachNewThread { [self] in runReadline() }
    }
  }

  func print(_ line: String) {
    let queued = requests.withLock { requests in
      guard requests.phase == .running else { return false }
      requests.output.append(line)
      return true
    }
    if queued { wake() } else { writeLine(line, to: STDOUT_FILENO) }
  }

  func show(target: ChatTarget?) {
    requests.withLock { $0.prompt = Self.prompt(for: target) }
    wake()
  }

  func complete(from completions: Completions) {
    ReadlineHooks.state.withLock { $0.completions = completions }
  }

  /// Ends input and waits for the readline thread to restore the terminal.
  func stop() async {
    await withCheckedContinuation { continuation in
      let running = requests.withLock { requests in
        requests.endInput = true
        guard requests.phase == .running else { return false }
        requests.stopWaiter = continuation
        return true
      }
      if running { wake() } else { continuation.resume() }
    }
  }

  private static func prompt(for target: ChatTarget?) -> String {
    target.map { "\($0)> " } ?? "> "
  }

  private func wake() {
    var byte: UInt8 = 1
    _ = write(wakeUp.write, &byte, 1)
  }

  // MARK: The readline thread

  private func runReadline() {
    ReadlineHooks.configure()
    var currentPrompt = Self.prompt(for: nil)
    rl_callback_handler_install(currentPrompt, ReadlineHooks.lineTyped)
    var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeUp.read, events: Int16(POLLIN), revents: 0)]
    loop: while true {
      if poll(&fds, nfds_t(fds.count), -1) < 0 {
        if errno == EINTR { continue }
        break
      }
      if fds[1].revents != 0 {
        var drain = [UInt8](repeating: 0, count: 4096)
        _ = read(wakeUp.read, &drain, drain.count)
        let (output, prompt, endInput, secret) = requests.withLock { requests in
          (requests.output.take(), requests.prompt.take(), requests.endInput, requests.secret.take())
        }
        if endInput {
          secret?.reader.resume(returning: nil)
          // The client is about to exit: the prompt goes, the output stays.
          rl_clear_visible_line()
          for line in output { fputs(line + "\n", rl_outstream) }
          fflush(rl_outstream)
          break loop
        }
        if let prompt {
          currentPrompt = prompt
          rl_set_prompt(prompt)
        }
        printAbovePrompt(output)
        if let secret {
          let password = readSecretWithoutEcho(prompt: secret.prompt, restoring: currentPrompt)
          secret.reader.resume(returning: password)
          if requests.withLock({ $0.endInput }) { break loop }
          printAbovePrompt(requests.withLock { $0.output.take() })
        }
      }
      if fds[0].revents != 0 {
        rl_callback_read_char()
        let (typed, ended) = ReadlineHooks.state.withLock { ($0.typed.take(), $0.endOfInput) }
        for line in typed { input.yield(line) }
        if ended { break loop }
      }
    }
    if !ReadlineHooks.state.withLock({ $0.endOfInput }) { rl_callback_handler_remove() }
    input.finish()
    // From now on print() writes directly; print what came in meanwhile.
    let (leftover, stopWaiter, secret) = requests.withLock { requests in
      requests.phase = .stopped
      return (requests.output.take(), requests.stopWaiter.take(), requests.secret.take())
    }
    secret?.reader.resume(returning: nil)
    for line in leftover { writeLine(line, to: STDOUT_FILENO) }
    stopWaiter?.resume()
  }

  /// Reads one line with the terminal's echo off, outside readline (which would keep it in its
  /// history and redraw it): lines for the screen wait meanwhile, and Ctrl-C or SIGTERM gives up.
  private func readSecretWithoutEcho(prompt: String, restoring readlinePrompt: String) -> String? {
    rl_clear_visible_line()
    rl_callback_handler_remove()  // the terminal back in its own line mode
    fputs(prompt, rl_outstream)
    fflush(rl_outstream)
    var saved = termios()
    let hasTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
    if hasTerminal {
      var quiet = saved
      quiet.c_lflag &= ~tcflag_t(ECHO)
      quiet.c_lflag |= tcflag_t(ICANON)
      _ = tcsetattr(STDIN_FILENO, TCSANOW, &quiet)
    }
    var typed: [UInt8] = []
    var result: String?
    var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeUp.read, events: Int16(POLLIN), revents: 0)]
    reading: while true {
      if poll(&fds, nfds_t(fds.count), -1) < 0 {
        if errno == EINTR { continue }
        break
      }
      if fds[1].revents != 0 {
        var drain = [UInt8](repeating: 0, count: 4096)
        _ = read(wakeUp.read, &drain, drain.count)
        if requests.withLock({ $0.endInput }) { break reading }
      }
      if fds[0].revents != 0 {
        var chunk = [UInt8](repeating: 0, count: 512)
        let count = read(STDIN_FILENO, &chunk, chunk.count)
        guard count > 0 else { break reading }  // Ctrl-D: no password
        typed += chunk[..<count]
        for index in chunk.indices { chunk[index] = 0 }
        if let newline = typed.firstIndex(of: UInt8(ascii: "\n")) {
          result = String(decoding: typed[..<newline], as: UTF8.self)
          break reading
        }
      }
    }
    for index in typed.indices { typed[index] = 0 }
    if hasTerminal { _ = tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
    fputs("\n", rl_outstream)
    fflush(rl_outstream)
    rl_callback_handler_install(readlinePrompt, ReadlineHooks.lineTyped)
    return result
  }

  /// Clears the prompt and the line being typed, prints, and draws them again.
  private func printAbovePrompt(_ output: [String]) {
    guard !output.isEmpty else {
      rl_forced_update_display()
      return
    }
    rl_clear_visible_line()
    for line in output { fputs(line + "\n", rl_outstream) }
    fflush(rl_outstream)
    rl_on_new_line()
    rl_redisplay()
  }
}

extension Array {
  /// The elements, leaving the array empty.
  fileprivate mutating func take() -> [Element] {
    defer { removeAll() }
    return self
  }
}

/// What readline's C callbacks reach: they cannot capture context. They run
/// on the readline thread, inside `rl_callback_read_char`; the completions
/// are set from the session's task, hence the lock.
private enum ReadlineHooks {
  struct State {
    var typed: [String] = []
    var endOfInput = false
    var completions = Completions()
    var matches: [String] = []
  }

  static let state = Mutex(State())

  static func configure() {
    rl_readline_name = UnsafePointer(strdup("chat-client"))
    // Signals are ours (ReadlineConsole's sources); window size changes are
    // readline's, kept for as long as the handler is installed.
    rl_catch_signals = 0
    rl_catch_sigwinch = 1
    rl_persistent_signal_handlers = 1
    rl_change_environment = 0  // leave LINES and COLUMNS alone
    // Only spaces separate words, so `#general` and `@bob` complete whole.
    rl_completer_word_break_characters = UnsafePointer(strdup(" \t"))
    rl_variable_bind("completion-ignore-case", "on")
    rl_attempted_completion_function = complete
  }

  static let lineTyped: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void = { line in
    guard let line else {
      // Ctrl-D on an empty line. Removing the handler here, as readline's
      // own example does, keeps it from drawing a new prompt.
      rl_callback_handler_remove()
      state.withLock { $0.endOfInput = true }
      return
    }
    if line.pointee != 0 { add_history(line) }
    let text = String(cString: line)
    free(line)
    state.withLock { $0.typed.append(text) }
  }

  static let complete: @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = {
    text, start, _ in
    rl_attempted_completion_over = 1  // never fall back to file names
    guard let text, let buffer = rl_line_buffer else { return nil }
    let word = String(cString: text)
    let before = String(decoding: UnsafeRawBufferPointer(start: buffer, count: Int(start)), as: UTF8.self)
    state.withLock { $0.matches = $0.completions.candidates(for: word, after: before) }
    return rl_completion_matches(text, nextMatch)
  }

  static let nextMatch: @convention(c) (UnsafePointer<CChar>?, Int32) -> UnsafeMutablePointer<CChar>? = { _, _ in
    guard let match = state.withLock({ $0.matches.isEmpty ? nil : $0.matches.removeFirst() }) else { return nil }
    return strdup(match)
  }
}
