import ChatCore
import Foundation
import Logging

/// What a console line produced: lines for the operator, and what the
/// console must do next.
public struct ConsoleReply: Sendable, Equatable {
  public enum Action: Sendable, Equatable {
    case none
    /// Shut the server down gracefully, as SIGTERM does.
    case shutdown
  }

  public var lines: [String]
  public var action: Action

  public init(lines: [String], action: Action = .none) {
    self.lines = lines
    self.action = action
  }

  /// One `error: …` line: what is wrong and how to do it right.
  static func error(_ text: String) -> ConsoleReply {
    ConsoleReply(lines: ["error: " + text])
  }

  public var isError: Bool { lines.first?.hasPrefix("error:") ?? false }
}

/// The operator console's interpreter: turns one line into a reply, acting
/// on the registry. It holds no state of its own and does no I/O but
/// logging, so the terminal, the line reader and the tests share it.
public struct OperatorConsole: Sendable {
  let registry: ChatRegistry
  let logger: Logger
  let now: @Sendable () -> Date

  public init(registry: ChatRegistry, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
    self.registry = registry
    self.logger = logger
    self.now = now
  }

  /// Runs one line. An empty line does nothing.
  public func execute(line: String) -> ConsoleReply {
    let (command, reply) = interpret(line)
    if reply.isError {
      logger.debug("console command rejected", metadata: ["command": "\(command)", "error": "\(reply.lines[0])"])
    }
    return reply
  }

  private func interpret(_ line: String) -> (command: String, reply: ConsoleReply) {
    let line = line.drop { $0.isWhitespace }
    let word = line.prefix { !$0.isWhitespace }
    guard !word.isEmpty else { return ("", ConsoleReply(lines: [])) }
    guard let command = Self.command(named: word) else {
      return (String(word), .error("unknown command \(quoted(String(word))): type 'help' to list the commands."))
    }
    guard let arguments = command.split(line[word.endIndex...]) else {
      let extra = line[word.endIndex...].trimmingCharacters(in: .whitespaces)
      let allowed =
        switch command.maximumArguments {
        case 0: "takes no arguments"
        case 1: "takes one argument"
        default: "takes at most \(command.maximumArguments) arguments"
        }
      return (command.name, .error("\(command.name) \(allowed) but got \(quoted(extra)): usage: \(command.usage)"))
    }
    guard arguments.count >= command.minimumArguments else {
      let missing = command.arguments[arguments.count]
      return (command.name, .error("\(command.name) needs <\(missing.name)>: usage: \(command.usage)"))
    }
    return (command.name, command.handler(self, arguments))
  }

  /// The words that can complete the last (partial) word of `line`, which
  /// ends where the cursor is: command names first, then live user or group
  /// names or command names, as the command's arguments say.
  public func completions(for line: String) -> [String] {
    let partial = line.reversed().prefix { !$0.isWhitespace }.reversed()
    let before = line.dropLast(partial.count).split(whereSeparator: \.isWhitespace)
    let candidates: [String]
    if before.isEmpty {
      candidates = Self.commands.map(\.name)
    } else if let command = Self.command(named: before[0]), before.count - 1 < command.arguments.count {
      switch command.arguments[before.count - 1].kind {
      // Copied under the registry's lock, sorted after it.
      case .user: candidates = registry.userNames().sorted { $0.lowercased() < $1.lowercased() }
      case .group: candidates = registry.groupNames().sorted { $0.lowercased() < $1.lowercased() }
      case .command: candidates = Self.commands.map(\.name)
      case .text: candidates = []
      }
    } else {
      candidates = []
    }
    let prefix = String(partial).lowercased()
    return candidates.filter { $0.lowercased().hasPrefix(prefix) }
  }

  static func command(named name: Substring) -> ConsoleCommand? {
    let name = name.lowercased()
    return commands.first { $0.name == name }
  }
}
