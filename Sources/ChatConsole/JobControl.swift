import ChatCore
import Foundation
import Logging

/// The shell's job control, as it concerns a console on a terminal: a server
/// started with `&` runs in a background process group, and the kernel
/// stops a background process that reads its terminal (SIGTTIN) or changes
/// its settings (SIGTTOU) — the whole server, not just the console.
enum JobControl {
  /// How often a paused console looks whether it is in the foreground:
  /// nothing tells a process that it became so.
  static let foregroundCheckMilliseconds: Int32 = 200

  /// Whether this process may read terminal `fd`: its process group is the
  /// terminal's foreground group, or the terminal is not this process's
  /// controlling terminal (then job control does not apply).
  static func isForeground(_ fd: Int32) -> Bool {
    let foreground = tcgetpgrp(fd)
    return foreground == -1 || foreground == getpgrp()
  }

  /// The terminal's line editing and echo modes, which readline turns off
  /// and a shell turns on for a job it runs; nil if `fd` is no terminal.
  static func lineModes(_ fd: Int32) -> tcflag_t? {
    var settings = termios()
    guard tcgetattr(fd, &settings) == 0 else { return nil }
    return settings.c_lflag & tcflag_t(ICANON | ECHO)
  }

  /// From now on, a read of the terminal from the background fails with
  /// EIO, and other terminal access proceeds, instead of stopping the
  /// process. The console checks `isForeground` before it reads; this covers
  /// the moment between the check and the read, and readline's own
  /// terminal calls.
  static func ignoreTerminalStops() {
    signal(SIGTTIN, SIG_IGN)
    signal(SIGTTOU, SIG_IGN)
  }
}

extension ConsoleThread {
  /// Returns once the process is in the foreground of terminal `fd`, having
  /// logged that the console paused and resumed; false if `stop()` came
  /// first. Neither reads nor touches the terminal meanwhile.
  func waitForForeground(of fd: Int32, logger: Logger) -> Bool {
    guard !JobControl.isForeground(fd) else { return true }
    logger.notice("console paused: the server is in the background of its terminal")
    while !JobControl.isForeground(fd) {
      if wait(for: nil, timeoutMilliseconds: JobControl.foregroundCheckMilliseconds).stop { return false }
    }
    logger.notice("console resumed in the foreground")
    return true
  }
}
