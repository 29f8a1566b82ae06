import ChatAPI
import ChatAuth
import ChatCore
import Foundation
import GRPCCore
import SwiftProtobuf
import Synchronization

/// What SignUp and SignIn need beyond the registry: the password hasher, the
/// sign-in throttle and how long tokens live.
public struct AccountServices: Sendable {
  let hasher: PasswordHasher
  let throttle: SignInThrottle
  let tokenLifetime: Duration
  /// `--jwt-key`: also accept JWTs signed with that key.
  let jwt: JWTVerifier?
  /// Password hashes waiting or running: each costs 128 MiB and a quarter
  /// of a second of a core, so a flood of sign-ups is refused, not queued.
  private let hashing = HashingAdmission(limit: 32)

  public init(
    hasher: PasswordHasher = PasswordHasher(), throttle: SignInThrottle = SignInThrottle(),
    tokenLifetime: Duration = .seconds(30 * 86_400), jwt: JWTVerifier? = nil
  ) {
    self.hasher = hasher
    self.throttle = throttle
    self.tokenLifetime = tokenLifetime
    self.jwt = jwt
  }

  /// Runs `body` (a password hash) if fewer than the limit are in progress;
  /// RESOURCE_EXHAUSTED otherwise.
  func admitHashing<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    guard hashing.enter() else { throw ChatError.busyHashing(limit: hashing.limit) }
    defer { hashing.leave() }
    return try await body()
  }

  /// A JWT by its form: three dot-separated parts, longer than any name.
  static func looksLikeJWT(_ credential: String) -> Bool {
    credential.utf8.count > ChatName.maxLength && credential.split(separator: ".", omittingEmptySubsequences: false).count == 3
  }

  /// The caller a verified JWT authenticates (its account made on first use);
  /// UNAUTHENTICATED with the verifier's reason otherwise.
  func caller(forJWT token: String, registry: ChatRegistry, charge: Bool) async throws -> Caller {
    guard let jwt else { throw ChatError.invalidToken(expired: false) }
    let verified: (subject: String, expires: Date)
    do {
      verified = try await jwt.verify(token)
    } catch {
      throw RPCError(code: .unauthenticated, message: "invalid JWT: \(error.reason)")
    }
    return try registry.admitJWT(
      subject: verified.subject, token: TokenHash([UInt8](AccessToken.hash(token))), expires: verified.expires,
      charge: charge)
  }

  /// A new token and its expiry.
  func issueToken() -> (token: String, hash: TokenHash, expires: Date) {
    let token = AccessToken.generate()
    let seconds = Double(tokenLifetime.components.seconds)
    return (token, TokenHash([UInt8](AccessToken.hash(token))), Date().addingTimeInterval(seconds))
  }
}

extension ChatService {
  func signUp(_ request: Chat_V1_Credentials) async throws -> Chat_V1_AuthToken {
    let name = try ChatName.validate(request.username, as: .user)
    try Self.validatePassword(request.password)
    let hash = try await accounts.admitHashing { try await accounts.hasher.hash(request.password) }
    let issued = accounts.issueToken()
    try await registry.signUp(name, passwordHash: hash, token: issued.hash, expires: issued.expires).wait()
    return Self.authToken(issued.token, expires: issued.expires)
  }

  func signIn(_ request: Chat_V1_Credentials) async throws -> Chat_V1_AuthToken {
    let name = try ChatName.validate(request.username, as: .user)
    try Self.validatePassword(request.password)
    if let retryAfter = accounts.throttle.retryAfter(name.key) {
      throw ChatError.signInThrottled(name.display, retryAfter: retryAfter)
    }
    // An unknown name costs the same hash as a wrong password.
    let stored = registry.passwordHash(of: name)
    let verified = try await accounts.admitHashing { await accounts.hasher.verify(request.password, against: stored?.hash) }
    guard verified else {
      accounts.throttle.recordFailure(name.key)
      throw ChatError.badCredentials
    }
    accounts.throttle.recordSuccess(name.key)
    let issued = accounts.issueToken()
    try await registry.signIn(name, token: issued.hash, expires: issued.expires).wait()
    return Self.authToken(issued.token, expires: issued.expires)
  }

  private static func validatePassword(_ password: String) throws(ChatError) {
    let bytes = password.utf8.count
    guard (8...256).contains(bytes) else { throw .invalidPassword(bytes: bytes) }
  }

  private static func authToken(_ token: String, expires: Date) -> Chat_V1_AuthToken {
    .with {
      $0.token = token
      $0.expiresAt = Google_Protobuf_Timestamp(date: expires)
    }
  }
}

/// Counts password hashes in progress against a limit.
final class HashingAdmission: Sendable {
  let limit: Int
  private let inProgress = Atomic<Int>(0)

  init(limit: Int) {
    self.limit = limit
  }

  func enter() -> Bool {
    if inProgress.add(1, ordering: .relaxed).newValue <= limit { return true }
    inProgress.subtract(1, ordering: .relaxed)
    return false
  }

  func leave() {
    inProgress.subtract(1, ordering: .relaxed)
  }
}
