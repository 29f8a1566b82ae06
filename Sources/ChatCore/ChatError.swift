import Foundation

/// Every failure a user can cause, with the one sentence that explains it.
/// Each front end maps the cases to its status codes in one place (gRPC's:
/// `ChatError+RPCError.swift` in ChatGRPC).
public enum ChatError: Error, Equatable, Sendable {
  case invalidName(ChatName.Kind, String)
  case invalidText(String)
  case invalidChannelType(String)
  case emptyChannelName
  case missingAuthorization
  case unknownCaller(String)
  case userAlreadyConnected(String)
  case noSuchUser(String)
  case groupAlreadyExists(String)
  case noSuchGroup(String)
  case alreadyMember(group: String, user: String)
  case notMemberCannotLeave(group: String, user: String)
  case notMemberCannotSend(group: String, user: String)
  /// Only its length: the value may be someone's credential mistyped.
  case unknownSessionToken(length: Int)
  case tooManySessions(limit: Int)
  case tooManyGroups(limit: Int)
  case tooManyGroupsForUser(user: String, limit: Int)
  case rateLimited(user: String, limit: RateLimit, retryAfter: Duration)
  case sessionEnded(String)
  case shuttingDown
  // Accounts
  case nameRegistered(String)
  case nameTaken(String, byAccount: Bool)
  case invalidPassword(bytes: Int)
  case badCredentials
  case signInThrottled(String, retryAfter: Duration)
  case invalidToken(expired: Bool)
  case tokenRevoked(String)
  case connectNameMismatch(requested: String, account: String)
  case tooManySessionsForUser(user: String, limit: Int)
  case notSignedIn(String)
  case busyHashing(limit: Int)
  // History
  case historyBothCursors
  case historyLimit(UInt32)
  case notMemberCannotRead(group: String, user: String)
  case notMemberCannotList(group: String, user: String)
  /// The store could not make a change durable; nothing was acknowledged.
  case storeUnavailable(String)

  static func seconds(_ duration: Duration) -> String {
    let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    return String(format: "%.2f", max(0.01, value))
  }

  public var message: String {
    switch self {
    case .invalidName(let kind, let raw):
      "invalid \(kind.rawValue) \(quoted(raw)): use 1 to 32 characters from A-Z a-z 0-9 _ - ."
    case .invalidText(let what):
      "invalid message: \(what)."
    case .invalidChannelType(let type):
      "invalid channel type \(type): set to.type to CHANNEL_TYPE_USER or CHANNEL_TYPE_GROUP."
    case .emptyChannelName:
      "invalid channel name '': set to.name to a username or a group name."
    case .missingAuthorization:
      "missing authorization: send the metadata 'authorization: <username>' of a connected user."
    case .unknownCaller(let name):
      "authorization names \(quoted(name)), which is not a connected user."
    case .sessionEnded(let name):
      "the session of \(quoted(name)) this call was made for has ended."
    case .userAlreadyConnected(let name):
      "user \(quoted(name)) is already connected."
    case .noSuchUser(let name):
      "no connected user \(quoted(name))."
    case .groupAlreadyExists(let name):
      "group \(quoted(name)) already exists."
    case .noSuchGroup(let name):
      "no group \(quoted(name))."
    case .alreadyMember(let group, let user):
      "user \(quoted(user)) is already a member of group \(quoted(group))."
    case .notMemberCannotLeave(let group, let user):
      "user \(quoted(user)) is not a member of group \(quoted(group)), so cannot leave it."
    case .notMemberCannotSend(let group, let user):
      "user \(quoted(user)) is not a member of group \(quoted(group)), so cannot send to it."
    case .unknownSessionToken(let length):
      "authorization of \(length) characters is not the session id of a connected session: this server runs with --auth session, so send 'authorization: Bearer <session_id from Welcome>'."
    case .tooManySessions(let limit):
      "the server already holds its maximum of \(limit) sessions; try again later."
    case .tooManyGroups(let limit):
      "the server already holds its maximum of \(limit) groups; try again later."
    case .tooManyGroupsForUser(let user, let limit):
      "user \(quoted(user)) is already in \(limit) groups, the most one user may be in."
    case .rateLimited(let user, let limit, let retryAfter):
      "user \(quoted(user)) is over the rate limit of \(limit); retry in \(Self.seconds(retryAfter)) s."
    case .shuttingDown:
      "the server is shutting down."
    case .nameRegistered(let name):
      "\(quoted(name)) is a registered account: sign in with SignIn and send 'authorization: Bearer <token>'."
    case .nameTaken(let name, let byAccount):
      byAccount
        ? "an account named \(quoted(name)) already exists." : "\(quoted(name)) is connected as a guest; pick another name."
    case .invalidPassword(let bytes):
      "invalid password of \(bytes) bytes: use 8 to 256 bytes."
    case .badCredentials:
      "unknown username or wrong password."
    case .signInThrottled(let name, let retryAfter):
      "too many failed sign-ins for \(quoted(name)); retry in \(Self.seconds(retryAfter)) s."
    case .invalidToken(let expired):
      expired
        ? "the token has expired: sign in again with SignIn."
        : "the token is not valid (unknown or revoked): sign in again with SignIn."
    case .tokenRevoked(let name):
      "the token of \(quoted(name)) this call was made with has been revoked."
    case .connectNameMismatch(let requested, let account):
      "the token belongs to \(quoted(account)), not \(quoted(requested)): leave username empty or name the account."
    case .tooManySessionsForUser(let user, let limit):
      "\(quoted(user)) already holds \(limit) sessions, the most one account may hold."
    case .notSignedIn(let name):
      "\(quoted(name)) is a guest with no token to revoke: SignOut is for accounts."
    case .busyHashing(let limit):
      "the server is already checking \(limit) passwords, the most it checks at once; retry in a second."
    case .historyBothCursors:
      "set before_seq or after_seq, not both."
    case .historyLimit(let limit):
      "invalid limit \(limit): use 1 to 100 (0 means 50)."
    case .notMemberCannotRead(let group, let user):
      "user \(quoted(user)) is not a member of group \(quoted(group)), so cannot read its history."
    case .notMemberCannotList(let group, let user):
      "user \(quoted(user)) is not a member of group \(quoted(group)), so cannot list its members."
    case .storeUnavailable(let reason):
      "the server cannot write its store (\(reason)): this change is not kept (sessions online may have seen it); retry later."
    }
  }
}

/// Quotes a user-supplied value for an error message or log line: control
/// characters escaped, anything past 48 characters elided.
public func quoted(_ value: String) -> String {
  var out = "'"
  for (index, scalar) in value.unicodeScalars.enumerated() {
    if index == 48 {
      out += "…"
      break
    }
    out += scalar.properties.generalCategory == .control || scalar == "'" || scalar == "\\"
      ? scalar.escaped(asASCII: false) : String(scalar)
  }
  return out + "'"
}
