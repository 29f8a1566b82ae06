/// One line of input, parsed. Names must follow the server's rule
/// (`NameRule`), checked here so that a name with a space is refused with
/// the rule rather than a usage line; the server checks everything else.
public enum ClientCommand: Equatable, Sendable {
  case create(group: String)
  case join(group: String)
  case leave(group: String)
  case list
  /// `/members [group]`: who is in a group, and who is online (nil: the `/to` group).
  case members(group: String?)
  /// `/msg`, `/say`: a message to a given user or group.
  case send(text: String, to: ChatTarget)
  /// A line that is not a command: a message to the current `/to` target.
  case text(String)
  /// `/to #group` or `/to @user`.
  case setTarget(ChatTarget)
  /// `/to` alone: where plain lines go now.
  case showTarget
  /// `/history [n]`: the last `count` logged events of the `/to` target.
  case history(count: Int)
  /// `/signup <name>`: create an account, sign in, and go on as it.
  case signUp(name: String)
  /// `/signin <name>`: sign in to an account and go on as it.
  case signIn(name: String)
  /// `/signout`: revoke this client's token, forget it, and exit.
  case signOut
  case help
  case quit

  /// Every command, with its arguments, and what it does: `/help` prints it
  /// and completion offers the names.
  public static let usage: [(command: String, does: String)] = [
    ("/create <group>", "create a group and join it"),
    ("/join <group>", "join a group"),
    ("/leave <group>", "leave a group"),
    ("/list", "list connected users and groups (the groups you are in marked 'joined')"),
    ("/members [group]", "list a group's members and who is online (default: the /to group)"),
    ("/msg <user> <text>", "send a direct message"),
    ("/say <group> <text>", "send a message to a group"),
    ("/to #<group> | @<user>", "send the lines that follow there (/to alone: show where)"),
    ("/history [n]", "show the last n (default 20) messages and events of the /to channel"),
    ("/signup <name>", "create an account (asks for a password) and go on as it"),
    ("/signin <name>", "sign in to an account (asks for a password) and go on as it"),
    ("/signout", "sign out: revoke and forget this client's token, then exit"),
    ("/help", "show this help"),
    ("/quit", "disconnect and exit"),
  ]

  public static let names = usage.map { String($0.command.prefix { $0 != " " }) }

  /// What `/help` prints.
  public static let helpText: [String] = {
    let width = usage.map { $0.command.count }.max() ?? 0
    let commands = usage.map { "  \($0.command)\(String(repeating: " ", count: width - $0.command.count + 2))\($0.does)" }
    return commands + [
      "Other lines go to the /to channel; start a line with // to send one that starts with /.",
      "Tab completes commands, and names from the last /list.",
    ]
  }()

  /// Parses one line; nil for a blank line. A line starting with `//` is
  /// text that starts with `/`.
  public static func parse(_ line: String) throws(CommandError) -> ClientCommand? {
    if line.allSatisfy({ $0.isWhitespace }) { return nil }
    guard line.hasPrefix("/") else { return .text(line) }
    if line.hasPrefix("//") { return .text(String(line.dropFirst())) }

    let (command, arguments) = splitFirstWord(line)
    switch command {
    case "/create": return .create(group: try groupName(arguments, usage: "/create <group>"))
    case "/join": return .join(group: try groupName(arguments, usage: "/join <group>"))
    case "/leave": return .leave(group: try groupName(arguments, usage: "/leave <group>"))
    case "/list": return try noArguments(arguments, .list, usage: "/list")
    case "/members":
      return .members(group: arguments.isEmpty ? nil : try groupName(arguments, usage: "/members [group]"))
    case "/help": return try noArguments(arguments, .help, usage: "/help")
    case "/quit": return try noArguments(arguments, .quit, usage: "/quit")
    case "/signout": return try noArguments(arguments, .signOut, usage: "/signout")
    case "/signup": return .signUp(name: try accountName(arguments, usage: "/signup <name>"))
    case "/signin": return .signIn(name: try accountName(arguments, usage: "/signin <name>"))
    case "/history":
      if arguments.isEmpty { return .history(count: defaultHistoryCount) }
      guard let count = Int(arguments), historyCounts.contains(count) else {
        throw CommandError(
          "usage: /history [n], n from \(historyCounts.lowerBound) to \(historyCounts.upperBound).")
      }
      return .history(count: count)
    case "/msg":
      let (user, text) = try nameAndText(arguments, sigil: "@", usage: "/msg <user> <text>")
      return .send(text: text, to: .user(user))
    case "/say":
      let (group, text) = try nameAndText(arguments, sigil: "#", usage: "/say <group> <text>")
      return .send(text: text, to: .group(group))
    case "/to":
      if arguments.isEmpty { return .showTarget }
      guard let target = ChatTarget(parsing: arguments), !arguments.contains(where: { $0.isWhitespace }) else {
        throw CommandError("'\(arguments)' is not a channel: use /to #<group> or /to @<user>.")
      }
      guard NameRule.isValid(target.name) else { throw NameRule.invalid(target.name, kind: target.kind) }
      return .setTarget(target)
    default:
      throw CommandError("unknown command '\(command)': /help lists the commands.")
    }
  }

  /// What `/history` alone shows, and as many as `/join` shows.
  public static let defaultHistoryCount = 20
  /// How many `/history n` may ask for (History pages are 100 at most: this is 10 pages).
  public static let historyCounts = 1...1000

  /// An account's name: one word that follows the name rule, with no `@`.
  private static func accountName(_ arguments: String, usage: String) throws(CommandError) -> String {
    guard !arguments.isEmpty, !arguments.contains(where: { $0.isWhitespace }) else {
      throw CommandError("usage: \(usage)")
    }
    let name = stripping("@", from: arguments)
    guard NameRule.isValid(name) else { throw NameRule.invalid(name, kind: .user) }
    return name
  }

  /// The first word of `line`, and the rest with the whitespace around it removed.
  private static func splitFirstWord(_ line: some StringProtocol) -> (String, String) {
    let trimmed = line.drop { $0.isWhitespace }
    let word = trimmed.prefix { !$0.isWhitespace }
    var rest = trimmed.dropFirst(word.count).drop { $0.isWhitespace }
    while rest.last?.isWhitespace == true { rest = rest.dropLast() }
    return (String(word), String(rest))
  }

  /// A name without its optional sigil (`#general` or `general`).
  private static func stripping(_ sigil: Character, from name: String) -> String {
    name.count > 1 && name.first == sigil ? String(name.dropFirst()) : name
  }

  /// The one argument, a group name: everything after the command, so that
  /// `/join bad name` names `bad name` as what breaks the rule.
  private static func groupName(_ arguments: String, usage: String) throws(CommandError) -> String {
    guard !arguments.isEmpty else { throw CommandError("usage: \(usage)") }
    let name = stripping("#", from: arguments)
    guard NameRule.isValid(name) else { throw NameRule.invalid(name, kind: .group) }
    return name
  }

  private static func nameAndText(
    _ arguments: String, sigil: Character, usage: String
  ) throws(CommandError) -> (String, String) {
    let (name, text) = splitFirstWord(arguments)
    guard !name.isEmpty, !text.isEmpty else { throw CommandError("usage: \(usage)") }
    return (stripping(sigil, from: name), text)
  }

  private static func noArguments(
    _ arguments: String, _ command: ClientCommand, usage: String
  ) throws(CommandError) -> ClientCommand {
    guard arguments.isEmpty else { throw CommandError("usage: \(usage)") }
    return command
  }
}

/// A line the client cannot act on; the message says what to type instead.
public struct CommandError: Error, Equatable, Sendable, CustomStringConvertible {
  public let message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}
