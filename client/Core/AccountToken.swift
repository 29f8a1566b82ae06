import Foundation

/// An account's bearer token, as SignUp or SignIn issued it and the token file keeps it.
/// Its descriptions leave the token out, so printing or logging one by mistake shows nothing
/// that could be replayed.
public struct AccountToken: Codable, Equatable, Sendable, CustomStringConvertible,
  CustomDebugStringConvertible
{
  /// The account's name as the user typed it at /signup or /signin.
  public var username: String
  public var token: String
  /// When the server stops accepting the token; nil if it did not say.
  public var expiresAt: Date?

  public init(username: String, token: String, expiresAt: Date?) {
    self.username = username
    self.token = token
    self.expiresAt = expiresAt
  }

  /// `authorization: Bearer <token>`, as every call of an account carries it.
  public var authorizationValue: String { "Bearer \(token)" }

  public func hasExpired(at now: Date = Date()) -> Bool {
    expiresAt.map { $0 <= now } ?? false
  }

  public var description: String { "token of \(username)" }
  public var debugDescription: String { description }

  enum CodingKeys: String, CodingKey {
    case username
    case token
    case expiresAt = "expires_at"
  }
}
