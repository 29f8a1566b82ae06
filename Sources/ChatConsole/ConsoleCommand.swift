import ChatCore
/// One line of the console's command table: the name and arguments (from
/// which usage, arity and completion follow), a one-line help, and the
/// handler. Modelled on HAProxy's CLI keywords and ergo's command table.
struct ConsoleCommand: Sendable {
  struct Argument: Sendable {
    /// What the argument names, for completion; `text` takes the rest of the line.
    enum Kind: Sendable {
      case user, group, command, text
    }

    let name: String
    let kind: Kind
    let isOptional: Bool

    static func required(_ name: String, _ kind: Kind) -> Argument {
      Argument(name: name, kind: kind, isOptional: false)
    }

    static func optional(_ name: String, _ kind: Kind) -> Argument {
      Argument(name: name, kind: kind, isOptional: true)
    }
  }

  let name: String
  let arguments: [Argument]
  let help: String
  let handler: @Sendable (OperatorConsole, _ arguments: [String]) -> ConsoleReply

  /// `kick <user> [reason]`.
  var usage: String {
    ([name] + arguments.map { $0.isOptional ? "[\($0.name)]" : "<\($0.name)>" }).joined(separator: " ")
  }

  var minimumArguments: Int { arguments.count { !$0.isOptional } }
  var maximumArguments: Int { arguments.count }

  /// Whether the last argument takes the rest of the line, spaces included.
  var lastArgumentTakesRestOfLine: Bool { arguments.last?.kind == .text }

  /// Splits what follows the command name into arguments: words, except
  /// that a `text` argument takes the rest of the line. Returns nil if there
  /// are more words than arguments.
  func split(_ rest: Substring) -> [String]? {
    var arguments: [String] = []
    var remaining = rest.drop { $0.isWhitespace }
    while !remaining.isEmpty {
      if lastArgumentTakesRestOfLine && arguments.count == maximumArguments - 1 {
        arguments.append(String(remaining.trimmingTrailingWhitespace()))
        return arguments
      }
      guard arguments.count < maximumArguments else { return nil }
      let word = remaining.prefix { !$0.isWhitespace }
      arguments.append(String(word))
      remaining = remaining[word.endIndex...].drop { $0.isWhitespace }
    }
    return arguments
  }
}

extension Substring {
  func trimmingTrailingWhitespace() -> Substring {
    var end = endIndex
    while end > startIndex, self[index(before: end)].isWhitespace { end = index(before: end) }
    return self[startIndex..<end]
  }
}
