import ChatAPI

/// What Tab offers: command names at the start of a line, then the users and
/// groups from the last `/list` that fit where the cursor is.
public struct Completions: Equatable, Sendable {
  public var users: [String]
  public var groups: [String]

  public init(users: [String] = [], groups: [String] = []) {
    self.users = users
    self.groups = groups
  }

  public init(channels: [Chat_V1_Channel]) {
    self.init(
      users: channels.filter { $0.type == .user }.map(\.name),
      groups: channels.filter { $0.type == .group }.map(\.name))
  }

  /// The candidates for `word`, the word being typed, given the line before it.
  /// Matching ignores case, as the server's names do.
  public func candidates(for word: String, after lineBefore: String) -> [String] {
    let previous = lineBefore.split(whereSeparator: { $0.isWhitespace })
    let command = previous.first.map(String.init) ?? ""
    let all: [String]
    switch (command, previous.count) {
    case ("", _) where word.hasPrefix("/"): all = ClientCommand.names
    case ("/join", 1), ("/leave", 1), ("/say", 1): all = word.hasPrefix("#") ? groups.map { "#" + $0 } : groups
    case ("/msg", 1): all = word.hasPrefix("@") ? users.map { "@" + $0 } : users
    case ("/to", 1): all = users.map { "@" + $0 } + groups.map { "#" + $0 }
    case ("/create", _), ("/list", _), ("/help", _), ("/quit", _): all = []
    default: all = users + groups
    }
    let typed = word.lowercased()
    return all.filter { $0.lowercased().hasPrefix(typed) }
  }
}
