import Crypto
import Foundation
import JWTKit
import Testing
import _CryptoExtras

@testable import ChatAuth

@Suite("JWTVerifier")
final class JWTVerifierTests {
  let clock = ManualClock()
  /// Where a test writes its key files; each test has its own, removed when it ends.
  let directory: URL

  init() throws {
    directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("ChatAuthTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(at: directory) }

  /// What test tokens carry; optional claims so tests can leave one out.
  struct TestClaims: JWTPayload {
    var sub: SubjectClaim?
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    func verify(using algorithm: some JWTAlgorithm) async throws {}
  }

  /// A signing key and the key file the server would be given for it.
  struct Issuer {
    var keys: JWTKeyCollection
    var keyFileContents: Data
  }

  enum KeyKind: String, CaseIterable, CustomTestStringConvertible {
    case hs256 = "HS256", es256 = "ES256", rs256 = "RS256", eddsa = "EdDSA"
    var testDescription: String { rawValue }
  }

  static func issuer(_ kind: KeyKind) async throws -> Issuer {
    switch kind {
    case .hs256:
      let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
      let keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
      return Issuer(keys: keys, keyFileContents: secret)
    case .es256:
      let key = P256.Signing.PrivateKey()
      let keys = await JWTKeyCollection().add(ecdsa: try ES256PrivateKey(backing: key))
      return Issuer(keys: keys, keyFileContents: Data(key.publicKey.pemRepresentation.utf8))
    case .rs256:
      let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
      let keys = await JWTKeyCollection().add(
        rsa: try Insecure.RSA.PrivateKey(backing: key), digestAlgorithm: .sha256)
      return Issuer(keys: keys, keyFileContents: Data(key.publicKey.pemRepresentation.utf8))
    case .eddsa:
      let key = Curve25519.Signing.PrivateKey()
      let keys = await JWTKeyCollection().add(eddsa: EdDSA.PrivateKey(backing: key))
      return Issuer(keys: keys, keyFileContents: Data(key.publicKey.pemRepresentation.utf8))
    }
  }

  func keyFile(_ contents: Data, name: String = "jwt.key") throws -> String {
    let url = directory.appendingPathComponent(name)
    try contents.write(to: url)
    return url.path
  }

  func verifier(for issuer: Issuer, cacheCapacity: Int = 100) async throws -> JWTVerifier {
    try await JWTVerifier(
      keyFile: try keyFile(issuer.keyFileContents), cacheCapacity: cacheCapacity,
      now: { [clock] in clock.date })
  }

  func claims(sub: String? = "alice", expiresIn: TimeInterval? = 3600) -> TestClaims {
    TestClaims(
      sub: sub.map(SubjectClaim.init(value:)),
      exp: expiresIn.map { ExpirationClaim(value: clock.date.addingTimeInterval($0)) })
  }

  /// Verifies, expecting a rejection; checks the reason never quotes the token.
  func rejection(_ verifier: JWTVerifier, _ token: String) async throws -> JWTRejection {
    let error = try #require(await #expect(throws: JWTRejection.self) { try await verifier.verify(token) })
    #expect(!error.reason.contains(token))
    for part in token.split(separator: ".") where part.count > 8 {
      #expect(!error.reason.contains(part))
    }
    return error
  }

  @Test("a valid token gives its sub and exp", arguments: KeyKind.allCases)
  func accepts(kind: KeyKind) async throws {
    let issuer = try await Self.issuer(kind)
    let verifier = try await verifier(for: issuer)
    #expect(verifier.algorithm == kind.rawValue)
    let token = try await issuer.keys.sign(claims())
    let verified = try await verifier.verify(token)
    #expect(verified.subject == "alice")
    #expect(verified.expires == clock.date.addingTimeInterval(3600))
  }

  @Test("an expired token is rejected, cached or not", arguments: [KeyKind.hs256, .es256])
  func expired(kind: KeyKind) async throws {
    let issuer = try await Self.issuer(kind)
    let verifier = try await verifier(for: issuer)
    let stale = try await issuer.keys.sign(claims(expiresIn: -1))
    #expect(try await rejection(verifier, stale).reason.contains("expired"))

    let fresh = try await issuer.keys.sign(claims(expiresIn: 60))
    _ = try await verifier.verify(fresh)
    #expect(verifier.cachedTokenCount == 1)
    clock.advance(by: .seconds(60))
    #expect(try await rejection(verifier, fresh).reason.contains("expired"))
  }

  @Test("a token without exp is rejected", arguments: [KeyKind.hs256, .es256])
  func missingExp(kind: KeyKind) async throws {
    let issuer = try await Self.issuer(kind)
    let token = try await issuer.keys.sign(claims(expiresIn: nil))
    #expect(try await rejection(try await verifier(for: issuer), token).reason.contains("exp"))
  }

  @Test("a token without sub is rejected")
  func missingSub() async throws {
    let issuer = try await Self.issuer(.hs256)
    let token = try await issuer.keys.sign(claims(sub: nil))
    #expect(try await rejection(try await verifier(for: issuer), token).reason.contains("sub"))
  }

  @Test("a token not yet valid (nbf) is rejected")
  func notYetValid() async throws {
    let issuer = try await Self.issuer(.hs256)
    var early = claims()
    early.nbf = NotBeforeClaim(value: clock.date.addingTimeInterval(30))
    let token = try await issuer.keys.sign(early)
    #expect(try await rejection(try await verifier(for: issuer), token).reason.contains("not valid before"))
  }

  @Test("a token signed with another key of the same kind is rejected", arguments: KeyKind.allCases)
  func badSignature(kind: KeyKind) async throws {
    let configured = try await Self.issuer(kind)
    let other = try await Self.issuer(kind)
    let token = try await other.keys.sign(claims())
    let error = try await rejection(try await verifier(for: configured), token)
    #expect(error.reason.contains("signature"))
  }

  @Test("a token whose payload was altered after signing is rejected")
  func tamperedPayload() async throws {
    let issuer = try await Self.issuer(.es256)
    let token = try await issuer.keys.sign(claims(sub: "alice"))
    let forged = try await issuer.keys.sign(claims(sub: "mallory"))
    let parts = token.split(separator: "."), forgedParts = forged.split(separator: ".")
    let spliced = [parts[0], forgedParts[1], parts[2]].joined(separator: ".")
    #expect(try await rejection(try await verifier(for: issuer), spliced).reason.contains("signature"))
  }

  @Test("a token for another algorithm than the key's is rejected before any check")
  func wrongAlgorithm() async throws {
    let es256 = try await Self.issuer(.es256)
    let verifier = try await verifier(for: es256)

    // The classic confusion: HS256 with the public key's PEM as the secret.
    let confused = try await JWTKeyCollection()
      .add(hmac: HMACKey(from: es256.keyFileContents), digestAlgorithm: .sha256)
      .sign(claims())
    #expect(try await rejection(verifier, confused).reason.contains("signed with HS256"))

    let otherKind = try await Self.issuer(.eddsa).keys.sign(claims())
    #expect(try await rejection(verifier, otherKind).reason.contains("accepts only ES256"))

    let unsigned = try await JWTKeyCollection().addUnsecuredNone().sign(claims())
    #expect(try await rejection(verifier, unsigned).reason.contains("none"))
  }

  @Test("malformed tokens are rejected", arguments: [
    "", "abc", "a.b", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30", "eyJ0eXAiOiJKV1QifQ.e30.AAAA",
  ])
  func malformed(token: String) async throws {
    let verifier = try await verifier(for: try await Self.issuer(.hs256))
    await #expect(throws: JWTRejection.self) { try await verifier.verify(token) }
  }

  @Test("a token over 8 KiB is refused unread")
  func tooLong() async throws {
    let verifier = try await verifier(for: try await Self.issuer(.hs256))
    let token = String(repeating: "a", count: 9000)
    #expect(try await rejection(verifier, token).reason.contains("longer"))
  }

  @Test("verified tokens are cached up to the capacity")
  func boundedCache() async throws {
    let issuer = try await Self.issuer(.hs256)
    let verifier = try await verifier(for: issuer, cacheCapacity: 3)
    for index in 0..<5 {
      _ = try await verifier.verify(try await issuer.keys.sign(claims(sub: "user\(index)")))
    }
    #expect(verifier.cachedTokenCount == 3)
  }

  @Test("key files that can't be used throw an error naming the path")
  func badKeyFiles() async throws {
    let missing = directory.appendingPathComponent("missing.pem").path
    let shortSecret = try keyFile(Data("too short".utf8), name: "short")
    let privateKey = try keyFile(
      Data(P256.Signing.PrivateKey().pemRepresentation.utf8), name: "private.pem")
    let p384 = try keyFile(
      Data(P384.Signing.PrivateKey().publicKey.pemRepresentation.utf8), name: "p384.pem")
    for (path, problem) in [
      (missing, "cannot be read"), (shortSecret, "at least 32"), (privateKey, "private key"),
      (p384, "not an RS256"),
    ] {
      let error = try #require(await #expect(throws: JWTKeyFileError.self) {
        try await JWTVerifier(keyFile: path)
      })
      #expect(error.description.contains(path))
      #expect(error.description.contains(problem))
    }
  }
}
