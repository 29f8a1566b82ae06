import ChatCore
import Foundation
import Logging

/// The command table: `help` and completion are generated from it.
extension OperatorConsole {
  static let commands: [ConsoleCommand] = [
    ConsoleCommand(
      name: "users", arguments: [], help: "list connected guests, then accounts online: since when, in how many groups",
      handler: users),
    ConsoleCommand(name: "groups", arguments: [], help: "list groups and their member counts", handler: groups),
    ConsoleCommand(
      name: "members", arguments: [.required("group", .group)],
      help: "list a group's members: online or offline, guest or account", handler: members),
    ConsoleCommand(
      name: "accounts", arguments: [], help: "list accounts: open sessions, groups, last seen", handler: accounts),
    ConsoleCommand(
      name: "sessions", arguments: [.required("user", .user)], help: "list a user's open sessions", handler: sessions),
    ConsoleCommand(
      name: "kick", arguments: [.required("user", .user), .optional("reason", .text)],
      help: "end every session of a user (PERMISSION_DENIED); they leave every group", handler: kick),
    ConsoleCommand(
      name: "broadcast", arguments: [.required("text", .text)], help: "send a notice to every connected session",
      handler: broadcast),
    ConsoleCommand(
      name: "stats", arguments: [], help: "uptime, open sessions, groups, messages accepted, events queued and written, sessions ended",
      handler: stats),
    ConsoleCommand(
      name: "help", arguments: [.optional("command", .command)], help: "list the commands, or show one's usage",
      handler: help),
    ConsoleCommand(
      name: "shutdown", arguments: [], help: "shut the server down gracefully, as SIGTERM does", handler: shutdown),
  ]

  // MARK: Queries

  private static func users(_ console: OperatorConsole, _: [String]) -> ConsoleReply {
    console.logger.debug("console command", metadata: ["command": "users"])
    let users = console.registry.snapshot().users
    let now = console.now()
    let width = users.map(\.name.count).max() ?? 0
    var lines: [String] = []
    for (kind, group) in [("guest", users.filter { !$0.account }), ("account", users.filter(\.account))] {
      lines += group.map { user in
        "\(padded(user.name, width))  \(kind)  connected \(user.connectedAt.formatted(.iso8601)) "
          + "(\(duration(now.timeIntervalSince(user.connectedAt))) ago)  \(counted(user.sessions.count, "session"))  "
          + counted(user.groups.count, "group")
      }
    }
    let accounts = users.count(where: \.account)
    lines.append(
      users.isEmpty
        ? "0 users"
        : "\(counted(users.count, "user")): \(counted(users.count - accounts, "guest")), \(counted(accounts, "account"))")
    return ConsoleReply(lines: lines)
  }

  private static func groups(_ console: OperatorConsole, _: [String]) -> ConsoleReply {
    console.logger.debug("console command", metadata: ["command": "groups"])
    let groups = console.registry.snapshot().groups
    let width = groups.map(\.name.count).max() ?? 0
    var lines = groups.map { "\(padded($0.name, width))  \(counted($0.members.count, "member"))" }
    lines.append(counted(groups.count, "group"))
    return ConsoleReply(lines: lines)
  }

  private static func members(_ console: OperatorConsole, _ arguments: [String]) -> ConsoleReply {
    console.logger.debug("console command", metadata: ["command": "members"])
    guard let name = ChatName(arguments[0]) else {
      return .error(ChatError.invalidName(.group, arguments[0]).message)
    }
    guard let group = console.registry.members(ofGroup: name) else {
      return .error("no group \(quoted(name.display)): 'groups' lists the groups.")
    }
    let now = console.now()
    let width = group.members.map(\.name.display.count).max() ?? 0
    var lines = group.members.map { member in
      let state =
        member.online
        ? "online" : "offline" + (member.lastSeen.map { ", last seen \(duration(now.timeIntervalSince($0))) ago" } ?? "")
      return "\(padded(member.name.display, width))  \(member.account ? "account" : "guest  ")  \(state)"
    }
    let online = group.members.count(where: \.online)
    lines.append("\(counted(group.members.count, "member")) of \(group.group), \(online) online")
    return ConsoleReply(lines: lines)
  }

  private static func accounts(_ console: OperatorConsole, _: [String]) -> ConsoleReply {
    console.logger.debug("console command", metadata: ["command": "accounts"])
    let accounts = console.registry.accounts()
    let now = console.now()
    let width = accounts.map(\.name.count).max() ?? 0
    var lines = accounts.map { account in
      let seen =
        account.lastSeen.map { "offline, last seen \(duration(now.timeIntervalSince($0))) ago" }
        ?? "online, \(counted(account.sessions, "session"))"
      return "\(padded(account.name, width))  \(seen)  \(listed(account.groups.sorted(), "group"))"
    }
    lines.append(counted(accounts.count, "account"))
    return ConsoleReply(lines: lines)
  }

  private static func sessions(_ console: OperatorConsole, _ arguments: [String]) -> ConsoleReply {
    console.logger.debug("console command", metadata: ["command": "sessions"])
    guard let name = ChatName(arguments[0]) else {
      return .error(ChatError.invalidName(.user, arguments[0]).message)
    }
    guard let found = console.registry.sessions(of: name) else {
      return .error("no user or account \(quoted(name.display)): 'users' and 'accounts' list them.")
    }
    let now = console.now()
    var lines = found.sessions.map { session in
      "session \(session.tag)  connected \(session.connectedAt.formatted(.iso8601)) "
        + "(\(duration(now.timeIntervalSince(session.connectedAt))) ago)  \(counted(session.queuedEvents, "event")) queued"
    }
    lines.append("\(found.user) (\(found.account ? "account" : "guest")): \(counted(found.sessions.count, "open session"))")
    return ConsoleReply(lines: lines)
  }

  private static func stats(_ console: OperatorConsole, _: [String]) -> ConsoleReply {
    console.logger.debug("console command", metadata: ["command": "stats"])
    let counts = console.registry.counts()
    let ended = [
      (SessionEnd.disconnected, "by the client or its connection"), (.kicked(reason: ""), "kicked"),
      (.slowConsumer(queuedBytes: 0), "too slow to read"), (.shutdown, "at shutdown"),
    ].map { end, meaning in "\(counts.sessionsEnded[end.label, default: 0]) \(meaning)" }
    // Each line says what it counts. Events queued count since the start, so
    // the difference from those written is not only what still waits.
    return ConsoleReply(lines: [
      "uptime: \(duration(console.now().timeIntervalSince(counts.startedAt))) "
        + "(since \(counts.startedAt.formatted(.iso8601)))",
      "sessions: \(counts.sessions) open",
      "groups: \(counts.groups)",
      "messages accepted: \(counts.messagesAccepted) (SendMessage calls that returned OK)",
      "events: \(counts.eventsQueued) queued for sessions, \(counts.eventsWritten) written to streams "
        + "in \(counts.batchesWritten) writes (the rest wait, or ended with their session)",
      "sessions ended: " + ended.joined(separator: ", "),
    ])
  }

  private static func help(_ console: OperatorConsole, _ arguments: [String]) -> ConsoleReply {
    console.logger.debug("console command", metadata: ["command": "help"])
    guard let name = arguments.first else {
      let width = commands.map(\.usage.count).max() ?? 0
      return ConsoleReply(lines: commands.map { "\(padded($0.usage, width))  \($0.help)" })
    }
    guard let command = command(named: name[...]) else {
      return .error("no command \(quoted(name)): type 'help' to list the commands.")
    }
    return ConsoleReply(lines: ["usage: \(command.usage)", command.help])
  }

  // MARK: Actions

  private static func kick(_ console: OperatorConsole, _ arguments: [String]) -> ConsoleReply {
    let reason = arguments.count > 1 ? arguments[1] : ""
    if !reason.isEmpty {
      do throws(ChatError) {
        try MessageText.validate(reason)
      } catch {
        guard case .invalidText(let what) = error else { return .error(error.message) }
        return .error("invalid reason (\(what)): give at most \(MessageText.maxBytes) bytes without control characters.")
      }
    }
    let ended: SessionEnded
    do throws(ChatError) {
      ended = try console.registry.kick(arguments[0], reason: reason)
    } catch {
      guard case .noSuchUser(let name) = error else { return .error(error.message) }
      return .error("no user or account \(quoted(name)): 'users' and 'accounts' list them.")
    }
    console.logger.notice(
      "console kick",
      metadata: [
        "user": "\(ended.user)", "reason": "\(reason)", "groups_left": "\(ended.groupsLeft.count)",
        "groups_deleted": "\(ended.groupsDeleted.count)",
      ])
    return ConsoleReply(lines: [
      "kicked \(ended.user): left \(listed(ended.groupsLeft, "group")), deleted \(listed(ended.groupsDeleted, "empty group"))"
    ])
  }

  private static func broadcast(_ console: OperatorConsole, _ arguments: [String]) -> ConsoleReply {
    let text = arguments[0]
    let reached: Int
    do throws(ChatError) {
      reached = try console.registry.broadcast(text)
    } catch {
      guard case .invalidText(let what) = error else { return .error(error.message) }
      return .error("cannot broadcast: \(what): send 1 to \(MessageText.maxBytes) bytes without control characters.")
    }
    // The text is the operator's, but like message text it stays out of the log.
    console.logger.notice("console broadcast", metadata: ["sessions": "\(reached)", "bytes": "\(text.utf8.count)"])
    return ConsoleReply(lines: ["broadcast reached \(counted(reached, "session"))"])
  }

  private static func shutdown(_ console: OperatorConsole, _: [String]) -> ConsoleReply {
    console.logger.notice("console shutdown")
    return ConsoleReply(lines: ["shutting down"], action: .shutdown)
  }

  // MARK: Formatting

  static func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
  }

  /// "2 groups (dev, lounge)", "no groups".
  static func listed(_ names: [String], _ noun: String) -> String {
    names.isEmpty ? "no \(noun)s" : "\(counted(names.count, noun)) (\(names.joined(separator: ", ")))"
  }

  /// "42s", "5m12s", "3h04m05s", "2d03h04m".
  static func duration(_ interval: TimeInterval) -> String {
    var seconds = max(0, Int(interval))
    let days = seconds / 86_400
    seconds %= 86_400
    let hours = seconds / 3600
    seconds %= 3600
    let minutes = seconds / 60
    seconds %= 60
    let two = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
    if days > 0 { return "\(days)d\(two(hours))h\(two(minutes))m" }
    if hours > 0 { return "\(hours)h\(two(minutes))m\(two(seconds))s" }
    if minutes > 0 { return "\(minutes)m\(two(seconds))s" }
    return "\(seconds)s"
  }

  static func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
  }
}
