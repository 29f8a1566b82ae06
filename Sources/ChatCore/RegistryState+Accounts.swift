import ChatStore
import Foundation

extension RegistryState {
  // MARK: Accounts

  /// Creates an account, signed in with `token`.
  mutating func signUp(
    _ name: ChatName, passwordHash: Data, token: TokenHash, expires: Date, date: Date, _ effects: inout Effects
  ) throws(ChatError) {
    guard !shuttingDown else { throw .shuttingDown }
    if let existing = users[name.key] { throw .nameTaken(existing.name.display, byAccount: existing.account != nil) }
    let account = Account(passwordHash: passwordHash, created: date, position: AccountPosition(log.lastSeq), lastSeen: date)
    users[name.key] = User(name: name, bucket: limits.rateLimit.map { TokenBucket($0, now: .now) }, account: account)
    accountCount += 1
    tokens[token] = TokenEntry(account: name.key, expires: expires)
    effects.storeOperations += [
      .putAccount(AccountRecord(nameKey: name.key, display: name.display, passwordHash: passwordHash, created: date)),
      .putToken(TokenRecord(hash: Data(token.bytes), account: name.key, expires: expires)),
      .setPosition(account: name.key, seq: log.lastSeq),
    ]
  }

  /// The account's stored password hash: nil if there is no such account
  /// (or it has no password), so SignIn fails the same way for both.
  func passwordHash(of name: ChatName) -> (display: String, hash: Data)? {
    guard let user = users[name.key], let hash = user.account?.passwordHash else { return nil }
    return (user.name.display, hash)
  }

  /// Adds a token for an account that proved its password.
  mutating func signIn(_ name: ChatName, token: TokenHash, expires: Date, _ effects: inout Effects) throws(ChatError) {
    guard !shuttingDown else { throw .shuttingDown }
    guard users[name.key]?.account != nil else { throw .badCredentials }
    tokens[token] = TokenEntry(account: name.key, expires: expires)
    effects.storeOperations.append(.putToken(TokenRecord(hash: Data(token.bytes), account: name.key, expires: expires)))
  }

  /// Admits a verified JWT for the account `name` (created by its first
  /// valid token) until `expires`; from then on it works as a token.
  mutating func admitJWT(
    _ name: ChatName, token: TokenHash, expires: Date, date: Date, _ effects: inout Effects
  ) throws(ChatError) {
    guard !shuttingDown else { throw .shuttingDown }
    if let revoked = revokedJWTs[token] {
      guard revoked <= date else { throw .invalidToken(expired: false) }
      revokedJWTs[token] = nil
    }
    if let existing = users[name.key] {
      guard existing.account != nil else { throw .nameTaken(existing.name.display, byAccount: false) }
    } else {
      let account = Account(passwordHash: nil, created: date, position: AccountPosition(log.lastSeq), lastSeen: date)
      users[name.key] = User(name: name, bucket: limits.rateLimit.map { TokenBucket($0, now: .now) }, account: account)
      accountCount += 1
      effects.storeOperations += [
        .putAccount(AccountRecord(nameKey: name.key, display: name.display, passwordHash: Data(), created: date)),
        .setPosition(account: name.key, seq: log.lastSeq),
      ]
    }
    guard tokens[token] == nil else { return }
    tokens[token] = TokenEntry(account: name.key, expires: expires, isJWT: true)
    effects.storeOperations.append(.putToken(TokenRecord(hash: Data(token.bytes), account: name.key, expires: expires)))
  }

  /// Revokes the caller's token and ends the sessions opened with it.
  mutating func signOut(_ caller: Caller, _ effects: inout Effects) throws(ChatError) {
    _ = try user(caller)
    guard let token = caller.tokenHash else { throw .notSignedIn(caller.user.display) }
    if let entry = tokens.removeValue(forKey: token), entry.isJWT { revokedJWTs[token] = entry.expires }
    effects.storeOperations.append(.deleteToken(hash: Data(token.bytes)))
    for session in users[caller.user.key]!.sessions.values.sorted(by: { $0.tag < $1.tag })
    where session.caller.tokenHash == token {
      endSession(session, .signedOut, &effects)
    }
  }

  // MARK: Catch-up

  /// Where an account's catch-up starts: after `resume` if given (nil from
  /// another epoch: nothing can be replayed), else after its own position.
  func catchUpStart(_ account: Account, _ resume: LogPosition?) -> UInt64? {
    if let resume { resume.epoch == log.epoch ? resume.seq : nil } else { account.position.seq }
  }

  /// Every retained logged event the account can see with seq > `position`,
  /// by channel (each slice in seq order; the session's writer merges them,
  /// outside this lock); nil if that is more than `maxReplay` events or some
  /// of them are no longer retained.
  ///
  /// With a store, memory holds each channel's newest `--max-replay` events:
  /// a group the account is in, or a direct channel, that has more after
  /// `position` has too many to replay. A group it has left is bounded by
  /// when it left, so its events may be few and older than memory holds:
  /// those come from `stored` (read by `connectAccount`), or are added to
  /// `reads` (and the answer is nil).
  func missedEvents(
    of account: Account, after position: UInt64, stored: [PastRange: [SharedEvent]?], reads: inout [PastRange]
  ) -> [ArraySlice<SharedEvent>]? {
    guard position < log.lastSeq else { return position == log.lastSeq ? [] : nil }
    var slices: [ArraySlice<SharedEvent>] = []
    var count = 0
    func add(_ slice: ArraySlice<SharedEvent>?) -> Bool {
      guard let slice else { return false }
      count += slice.count
      slices.append(slice)
      return count <= limits.maxReplay
    }
    for (group, since) in account.joinedAt {
      guard add(log.range(EventLog.groupChannel(group), after: max(position, since - 1))) else { return nil }
    }
    for past in account.pastMemberships where past.until > position + 1 {
      let channel = EventLog.groupChannel(past.group)
      let lower = max(position, past.since - 1)
      guard log.isInStoreOnly(channel, after: lower) else {
        guard add(log.range(channel, after: lower, before: past.until)) else { return nil }
        continue
      }
      let range = PastRange(channel: channel, after: lower, before: past.until)
      switch stored[range] {
      case .some(.some(let events)): guard add(events[...]) else { return nil }
      case .some(.none): return nil
      case .none: reads.append(range)
      }
    }
    for channel in account.directChannels {
      guard add(log.range(channel, after: position)) else { return nil }
    }
    return reads.isEmpty ? slices.filter { !$0.isEmpty } : nil
  }

  /// What a catch-up for this Connect must read from the store first
  /// (nothing if it fails or needs nothing; `connect` then decides).
  func storeReadsForCatchUp(
    token: TokenHash, resume: LogPosition?, date: Date, stored: [PastRange: [SharedEvent]?]
  ) -> [PastRange] {
    guard !shuttingDown, log.tailLimit != nil, let key = try? accountKey(for: token, date: date),
      let account = users[key]?.account, let from = catchUpStart(account, resume)
    else { return [] }
    var reads: [PastRange] = []
    _ = missedEvents(of: account, after: from, stored: stored, reads: &reads)
    return reads
  }

  // MARK: History

  /// A page of one channel's logged events the caller may read, or what to
  /// read from the store for it (after the lock is released).
  func history(_ request: HistoryQuery, by caller: Caller) throws(ChatError) -> HistoryPlan {
    let user = try user(caller)
    let channel: String
    var floor: UInt64 = 0
    switch request.target {
    case .group(let name):
      guard let group = groups[name.key] else { throw .noSuchGroup(name.display) }
      guard group.members.contains(caller.user.key) else {
        throw .notMemberCannotRead(group: group.name.display, user: user.name.display)
      }
      channel = EventLog.groupChannel(name.key)
      // An earlier group of the same name is not this one's past.
      floor = group.createdSeq > 0 ? group.createdSeq - 1 : 0
    case .user(let name):
      channel = EventLog.directChannel(caller.user.key, name.key)
      // A guest reads its own session's direct messages only, never an earlier namesake's.
      if user.account == nil, let tag = caller.session, let session = user.sessions[tag] { floor = session.startSeq }
    }
    switch log.page(channel, floor: floor, before: request.before, after: request.after, limit: request.limit) {
    case .events(let events, let hasMore):
      return .page(HistoryPage(events: events, hasMore: hasMore))
    case .store(let after, let before, let newestFirst):
      return .read(
        HistoryRead(channel: channel, after: after, before: before, newestFirst: newestFirst, limit: request.limit))
    }
  }

  // MARK: Restoring

  /// Rebuilds accounts, their groups and the log from what the store kept.
  mutating func restore(
    _ stored: StoredState, format: any StoredEventEncoding.Type, now: Date, _ effects: inout Effects
  ) -> RestoreSummary {
    var summary = RestoreSummary()
    for record in stored.log {
      // Kept as stored, decoded when History or a replay's writer reads it.
      let event = SharedEvent(
        seq: record.seq, isMessage: record.kind == .message, stored: [UInt8](record.payload), as: format)
      log.restore(event, to: record.channel)
    }
    log.markRestoredChannels()
    for account in stored.accounts {
      guard let name = ChatName(account.display), name.key == account.nameKey else { continue }
      let position = AccountPosition(stored.positions[account.nameKey] ?? log.lastSeq)
      // An account made by a JWT has no password (stored empty).
      let password = account.passwordHash.isEmpty ? nil : account.passwordHash
      users[name.key] = User(
        name: name, bucket: limits.rateLimit.map { TokenBucket($0, now: .now) },
        account: Account(passwordHash: password, created: account.created, position: position, lastSeen: now))
      accountCount += 1
    }
    for token in stored.tokens where token.expires > now && users[token.account]?.account != nil {
      tokens[TokenHash([UInt8](token.hash))] = TokenEntry(account: token.account, expires: token.expires)
    }
    let records = Dictionary(stored.groups.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    for membership in stored.memberships where users[membership.account]?.account != nil {
      if let until = membership.until {
        users[membership.account]!.account!.pastMemberships.append(
          PastMembership(group: membership.group, since: membership.since, until: until))
        continue
      }
      guard let record = records[membership.group], let name = ChatName(record.display) else { continue }
      groups[membership.group, default: Group(name: name, members: [], createdSeq: record.createdSeq, hadAccounts: true)]
        .members.insert(membership.account)
      users[membership.account]!.groups.insert(membership.group)
      users[membership.account]!.account!.joinedAt[membership.group] = membership.since
    }
    for channel in log.channels.keys {
      guard let (a, b) = EventLog.directParties(channel) else { continue }
      for key in [a, b] where users[key]?.account != nil { users[key]!.account!.directChannels.insert(channel) }
    }
    if let lobbyName { ensureLobby(lobbyName, stored: records[lobbyName.key], &effects) }
    // Groups whose members were all guests did not survive the restart.
    summary.staleGroups = stored.groups.map(\.key).filter { groups[$0] == nil }
    summary.accounts = accountCount
    summary.groups = groups.count
    summary.events = stored.log.count
    return summary
  }
}

/// Events of a group an account has left (`after < seq < before`) that a
/// catch-up needs and memory no longer holds.
struct PastRange: Hashable, Sendable {
  let channel: String
  let after: UInt64
  let before: UInt64
}

/// What a History call asks for, validated.
public struct HistoryQuery: Sendable {
  enum Target {
    case user(ChatName)
    case group(ChatName)
  }

  let target: Target
  let before: UInt64
  let after: UInt64
  let limit: Int
}

/// What the registry's lock decided for a History call.
enum HistoryPlan {
  case page(HistoryPage)
  /// The page reaches below the events held in memory: read it from the store.
  case read(HistoryRead)
}

/// A History page to read from the store: up to `limit` events of `channel`
/// with `after < seq < before`, and whether there are more.
struct HistoryRead {
  let channel: String
  let after: UInt64
  let before: UInt64
  let newestFirst: Bool
  let limit: Int
}

/// One page of History.
public struct HistoryPage: Sendable {
  /// Newest first when paging back (`before`), oldest first when paging forward (`after`).
  public let events: [SharedEvent]
  /// More events exist beyond this page in its direction.
  public let hasMore: Bool
}

/// What a restart brought back.
public struct RestoreSummary: Sendable {
  public var accounts = 0
  public var groups = 0
  /// Logged events read back into memory (each channel's newest, with a store).
  public var events = 0
  /// Stored groups that had no account left in them.
  public var staleGroups: [String] = []
}
