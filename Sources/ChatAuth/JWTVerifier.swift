import Foundation
import JWTKit

/// Verifies `Bearer <JWT>` credentials signed with the key `--jwt-key` names.
public struct JWTVerifier: Sendable {
  /// The JWS `alg` accepted: the configured key's, and no other.
  public let algorithm: String
  private let keys: JWTKeyCollection
  private let cache: VerifiedTokenCache
  private let now: @Sendable () -> Date

  /// Longest token looked at; anything longer is refused before parsing.
  static let maxTokenByteCount = 8192

  /// Reads a key file: an HS256 secret (raw bytes, at least 32) or an RS256 / ES256 / EdDSA
  /// public key in PEM (a certificate works for RS256 and ES256). Throws `JWTKeyFileError`,
  /// whose description names the path and the problem.
  ///
  /// - Parameters:
  ///   - cacheCapacity: how many verified tokens are remembered until their `exp`.
  ///   - now: the clock `exp` and `nbf` are checked against; tests pass their own.
  public init(
    keyFile path: String, cacheCapacity: Int = 10_000,
    now: @escaping @Sendable () -> Date = { Date() }
  ) async throws {
    let keyFile = try await JWTKeyFile.load(path: path)
    self.algorithm = keyFile.algorithm
    self.keys = keyFile.keys
    self.cache = VerifiedTokenCache(capacity: cacheCapacity)
    self.now = now
  }

  /// `sub` (the account name) and `exp` (required). Caches verified tokens until exp (bounded
  /// cache). The account name is returned as the token has it: the caller applies name rules.
  public func verify(_ token: String) async throws(JWTRejection) -> (subject: String, expires: Date) {
    let now = now()
    guard token.utf8.count <= Self.maxTokenByteCount else {
      throw JWTRejection(reason: "The JWT is longer than \(Self.maxTokenByteCount) bytes.")
    }
    let tokenHash = AccessToken.hash(token)
    if let entry = cache.entry(for: tokenHash, now: now) {
      return (entry.subject, entry.expires)
    }

    let headerAlgorithm = try Self.headerAlgorithm(of: token)
    guard headerAlgorithm == algorithm else {
      throw JWTRejection(
        reason: "The JWT is signed with \(Self.quoted(headerAlgorithm)), but the configured key"
          + " accepts only \(algorithm).")
    }

    let claims: Claims
    do {
      claims = try await keys.verify(token, as: Claims.self)
    } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
      throw JWTRejection(reason: "The JWT's signature does not match the configured key.")
    } catch let error as JWTError where error.errorType == .malformedToken {
      throw JWTRejection(reason: "The JWT is malformed.")
    } catch is DecodingError {
      throw JWTRejection(reason: "The JWT's claims are malformed (sub must be a string, exp a number).")
    } catch {
      throw JWTRejection(reason: "The JWT could not be verified.")
    }

    guard let expires = claims.exp?.value else {
      throw JWTRejection(reason: "The JWT has no exp claim, which is required.")
    }
    guard now < expires else {
      throw JWTRejection(reason: "The JWT expired at \(expires.formatted(.iso8601)).")
    }
    if let notBefore = claims.nbf?.value, now < notBefore {
      throw JWTRejection(reason: "The JWT is not valid before \(notBefore.formatted(.iso8601)).")
    }
    guard let subject = claims.sub?.value, !subject.isEmpty else {
      throw JWTRejection(reason: "The JWT has no sub claim naming the account.")
    }

    cache.insert(.init(subject: subject, expires: expires), for: tokenHash, now: now)
    return (subject, expires)
  }

  /// Tokens currently cached (for tests).
  var cachedTokenCount: Int { cache.count }

  /// The claims read. `verify(using:)` checks nothing: exp and nbf are checked against the
  /// injected clock afterwards, with a message for each.
  struct Claims: JWTPayload {
    var sub: SubjectClaim?
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
  }

  private struct Header: Decodable {
    var alg: String?
  }

  /// The header's `alg`, read before any key is used, so a token made for another algorithm
  /// (HS256 with the public key as secret, or "none") never reaches a verifier.
  private static func headerAlgorithm(of token: String) throws(JWTRejection) -> String {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, let headerData = base64URLDecode(parts[0]),
      let header = try? JSONDecoder().decode(Header.self, from: headerData)
    else {
      throw JWTRejection(reason: "The JWT is malformed.")
    }
    guard let alg = header.alg else {
      throw JWTRejection(reason: "The JWT's header has no alg.")
    }
    return alg
  }

  private static func base64URLDecode(_ text: Substring) -> Data? {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.utf8.count % 4 != 0 { base64 += "=" }
    return Data(base64Encoded: base64)
  }

  /// An attacker chooses `alg`: shown only if short and printable.
  private static func quoted(_ algorithm: String) -> String {
    let printable = algorithm.count <= 16 && algorithm.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
    return printable ? algorithm : "an unsupported algorithm"
  }
}
