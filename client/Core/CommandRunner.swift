import ChatAPI
import GRPCCore

/// Acts on the lines a user types, one at a time, and prints what comes of
/// each: the session's side of the conversation, without the Connect stream
/// (events are printed as they arrive, by whoever reads the stream).
public struct CommandRunner {
  public enum Outcome: Equatable, Sendable {
    case goOn
    case quit
  }

  private let calls: any ChatCalls
  private let output: any SessionOutput
  private let formatter: EventFormatter
  /// The user, as the server spells it (from Welcome); `accounts` knows it after a sign-in.
  private let initialUsername: String
  private let authorization: CallAuthorization
  private let accounts: (any AccountSession)?
  /// Where plain lines go.
  public private(set) var target: ChatTarget?

  public init(
    calls: any ChatCalls, output: any SessionOutput, formatter: EventFormatter, username: String,
    authorization: CallAuthorization, accounts: (any AccountSession)? = nil
  ) {
    self.calls = calls
    self.output = output
    self.formatter = formatter
    self.initialUsername = username
    self.authorization = authorization
    self.accounts = accounts
  }

  private var username: String { accounts?.currentUsername ?? initialUsername }

  /// Passwords are 8 to 256 bytes (the contract's rule), checked before any call.
  public static let passwordByteCounts = 8...256

  /// Acts on one line; a failure is printed, and the session goes on.
  public mutating func run(_ line: String) async -> Outcome {
    var command: ClientCommand?
    do {
      command = try ClientCommand.parse(line)
      guard let command else { return .goOn }
      switch command {
      case .quit:
        return .quit
      case .help:
        for helpLine in ClientCommand.helpText { output.print(helpLine) }
      case .setTarget(let wanted):
        try await talk(to: wanted)
      case .showTarget:
        let now = target.map { "talking to \($0.description.terminalSafe)" } ?? "talking to nobody: /to #<group> or /to @<user>"
        output.print(formatter.note(now))
      case .text(let text):
        guard let target else {
          throw CommandError("no channel to send to: /to #<group> or /to @<user> first, or /help.")
        }
        // The message comes back on the stream, as everyone else sees it;
        // so do MemberJoined for /create and /join.
        try await calls.send(text, to: target)
      case .send(let text, let to):
        try await calls.send(text, to: to)
      case .create(let group):
        try await calls.createGroup(group)
      case .join(let group):
        try await calls.joinGroup(group)
        await showRecentHistory(of: group)
      case .history(let count):
        guard let target else {
          throw CommandError("no channel for /history: /to #<group> or /to @<user> first.")
        }
        try await showHistory(count, of: target)
      case .signUp(let name):
        try await signIn(name, creatingAccount: true)
      case .signIn(let name):
        try await signIn(name, creatingAccount: false)
      case .signOut:
        guard let accounts, accounts.isAccount else {
          throw CommandError("not signed in: this is a guest session; /quit ends it.")
        }
        try await calls.signOut()
        try await accounts.signedOut()
        return .quit
      case .leave(let group):
        try await leave(group)
      case .list:
        let channels = try await calls.listChannels()
        output.complete(from: Completions(channels: channels))
        let joined = await groupsJoined(among: channels.filter { $0.type == .group }.map(\.name))
        output.print(formatter.channels(channels, joined: joined))
      case .members(let group):
        guard let name = group ?? target.flatMap({ if case .group(let name) = $0 { name } else { nil } }) else {
          throw CommandError("usage: /members [group]: name a group, or /to #<group> first.")
        }
        let members = try await calls.listMembers(name)
        for line in formatter.members(of: name, members) { output.print(line) }
      }
    } catch {
      report(error, after: command)
    }
    return .goOn
  }

  /// Which of `groups` the session is in, as ListMembers answers (a member
  /// may list, others are refused); at most `probedGroups` are asked, a
  /// few at a time, and those not asked or not answered are left unmarked.
  private func groupsJoined(among groups: [String]) async -> Set<String> {
    let calls = self.calls
    return await withTaskGroup(of: String?.self) { tasks in
      var joined = Set<String>()
      var pending = groups.prefix(Self.probedGroups).makeIterator()
      func ask(_ group: String) {
        tasks.addTask { (try? await calls.listMembers(group)) != nil ? group : nil }
      }
      for _ in 0..<4 { if let group = pending.next() { ask(group) } }
      for await answer in tasks {
        if let answer { joined.insert(answer) }
        if let group = pending.next() { ask(group) }
      }
      return joined
    }
  }

  /// How many groups `/list` asks about membership (one ListMembers each).
  static let probedGroups = 100

  /// `/history n`: the events oldest first, under a line that says what they are.
  private func showHistory(_ count: Int, of target: ChatTarget) async throws {
    let (events, hasMore) = try await HistoryPager(calls: calls).last(count, of: target)
    let channel = target.description.terminalSafe
    guard !events.isEmpty else {
      output.print(formatter.note("no history in \(channel)"))
      return
    }
    let more = hasMore ? "; older ones: /history \(min(count * 2, ClientCommand.historyCounts.upperBound))" : ""
    output.print(formatter.note("history of \(channel): \(events.count) event\(events.count == 1 ? "" : "s"), oldest first\(more)"))
    for event in events { output.print(formatter.line(for: event)) }
  }

  /// After a join: what was said before it, up to the last 20 events. The join itself and what
  /// follows come on the stream, so the page is cut at this user's own join.
  private func showRecentHistory(of group: String) async {
    let target = ChatTarget.group(group)
    do {
      let page = try await calls.history(of: target, beforeSeq: 0, limit: ClientCommand.defaultHistoryCount)
      var events = page.events.sorted { $0.seq < $1.seq }
      if let ownJoin = events.lastIndex(where: { event in
        if case .memberJoined(let joined) = event.kind {
          return joined.username.lowercased() == username.lowercased() && joined.group.lowercased() == group.lowercased()
        }
        return false
      }) {
        events.removeSubrange(ownJoin...)
      }
      guard !events.isEmpty else { return }
      output.print(formatter.note("earlier in #\(group.terminalSafe):"))
      for event in events { output.print(formatter.line(for: event)) }
    } catch let error as RPCError where error.code == .unimplemented {
      // A server without history: the join stands, there is just nothing to show.
    } catch {
      output.print(formatter.failure(error, prefix: "no history of #\(group.terminalSafe)"))
    }
  }

  /// `/signup` and `/signin`: the password, then the call, then the session goes on as the account.
  private func signIn(_ name: String, creatingAccount: Bool) async throws {
    guard let accounts else { throw CommandError("this client cannot sign in here.") }
    guard let password = try await accounts.password(for: name, confirm: creatingAccount) else {
      throw CommandError("no password given; not signed in.")
    }
    guard Self.passwordByteCounts.contains(password.utf8.count) else {
      throw CommandError(
        "passwords are \(Self.passwordByteCounts.lowerBound) to \(Self.passwordByteCounts.upperBound) bytes; not signed in.")
    }
    let token =
      creatingAccount
      ? try await calls.signUp(name, password: password) : try await calls.signIn(name, password: password)
    try await accounts.signedIn(token)
  }

  /// Checks that `wanted` exists before talking to it, so a typo is caught
  /// here rather than at the next line; keeps the old target if not.
  private mutating func talk(to wanted: ChatTarget) async throws {
    let channels = try await calls.listChannels()
    output.complete(from: Completions(channels: channels))
    guard let found = channels.first(where: wanted.matches) else {
      let missing =
        switch wanted {
        case .user(let name): "no connected user '\(name)'"
        case .group(let name): "no group '\(name)'"
        }
      let still = target.map { " (still talking to \($0))" } ?? ""
      throw CommandError("cannot talk to \(wanted): \(missing)\(still).")
    }
    // The server's spelling, as every event shows it.
    let newTarget = wanted.named(found.name)
    target = newTarget
    output.show(target: newTarget)
    output.print(formatter.note("talking to \(newTarget.description.terminalSafe)"))
  }

  private mutating func leave(_ group: String) async throws {
    try await calls.leaveGroup(group)
    let left = ChatTarget.group(group)
    // The last member out deletes the group, which only the list shows. The
    // leave itself succeeded, so a failed list only loses that line.
    let channels = try? await calls.listChannels()
    if let channels { output.complete(from: Completions(channels: channels)) }
    let listed = channels?.first(where: left.matches)
    // The server's spelling, as the others see it: from the list, or from
    // the target if the group is gone.
    let shown = listed?.name ?? target.flatMap { left.matches($0.channel) ? $0.name : nil } ?? group
    // The server tells only the others; say it in the words they see.
    output.print(
      formatter.line(
        for: .with {
          $0.kind = .memberLeft(
            .with {
              $0.username = username
              $0.group = shown
              $0.reason = .left
            })
        }))
    if channels != nil && listed == nil {
      output.print(formatter.note("#\(shown.terminalSafe) was deleted (its last member left)"))
    }
    if let target, left.matches(target.channel) {
      self.target = nil
      output.show(target: nil)
      output.print(formatter.note("no longer talking to \(target.description.terminalSafe)"))
    }
  }

  private func report(_ error: any Error, after command: ClientCommand?) {
    output.print(formatter.failure(error))
    guard let error = error as? RPCError else { return }
    switch (command, error.code) {
    case (.signUp(let name), .alreadyExists):
      output.print(formatter.hint("a name in use by a guest, this session among them, cannot be signed up; start chat-client without a name to sign up as \(name.terminalSafe)"))
    case (.signUp, _), (.signIn, _), (.signOut, _):
      return
    case (_, .unauthenticated) where authorization == .username && accounts?.isAccount != true:
      // The likeliest cause: a server in session mode refuses a username.
      output.print(formatter.hint("if the server runs with --auth session, start chat-client with --auth session"))
    default:
      return
    }
  }
}
