import ChatCore
import Foundation

/// How `chat-server` runs its operator console on stdin (commands) and
/// stdout (replies).
public struct ConsoleConfiguration: Sendable {
  /// Where the terminal console keeps its history across runs (created
  /// readable by its owner only); nil keeps none.
  public var historyFile: String?
  /// Log lines pass through this sink, so that a console that owns the
  /// terminal prints them above its prompt. Use it instead of stderr.
  public let logSink: ConsoleLogSink

  public init(historyFile: String? = ConsoleConfiguration.defaultHistoryFile) {
    self.historyFile = historyFile
    self.logSink = ConsoleLogSink(fallback: FileDescriptorLogSink.standardError)
  }

  /// `~/.chat_server_history`, if there is a home directory.
  public static var defaultHistoryFile: String? {
    guard let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty else { return nil }
    return (home as NSString).appendingPathComponent(".chat_server_history")
  }
}
