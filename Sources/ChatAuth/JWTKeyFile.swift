import Foundation
import JWTKit

/// The key `--jwt-key` names, read once at startup.
struct JWTKeyFile {
  /// The JWS `alg` tokens must carry for this key.
  var algorithm: String
  var keys: JWTKeyCollection

  /// Smallest HS256 secret accepted: RFC 7518 §3.2 requires a key at least as long as the hash.
  static let minimumSecretByteCount = 32

  static func load(path: String) async throws(JWTKeyFileError) -> JWTKeyFile {
    let contents: Data
    do {
      contents = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw JWTKeyFileError(path: path, problem: "cannot be read (\(Self.describe(error)))")
    }

    let text = String(decoding: contents, as: UTF8.self)
    guard text.contains("-----BEGIN ") else {
      // Anything that is not PEM is an HS256 secret, its bytes exactly (no newline trimmed).
      guard contents.count >= minimumSecretByteCount else {
        throw JWTKeyFileError(
          path: path,
          problem: "is not a PEM public key, and as an HS256 secret it is \(contents.count) bytes"
            + " (at least \(minimumSecretByteCount) are required)")
      }
      let keys = await JWTKeyCollection().add(hmac: HMACKey(from: contents), digestAlgorithm: .sha256)
      return JWTKeyFile(algorithm: "HS256", keys: keys)
    }

    if text.contains("PRIVATE KEY-----") {
      throw JWTKeyFileError(
        path: path, problem: "holds a private key; give the server only the public key (PEM)")
    }
    let isCertificate = text.contains("-----BEGIN CERTIFICATE-----")
    if let key = try? isCertificate ? ES256PublicKey(certificate: text) : ES256PublicKey(pem: text) {
      return JWTKeyFile(algorithm: "ES256", keys: await JWTKeyCollection().add(ecdsa: key))
    }
    if let key = try? isCertificate
      ? Insecure.RSA.PublicKey(certificatePEM: text) : Insecure.RSA.PublicKey(pem: text)
    {
      let keys = await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256)
      return JWTKeyFile(algorithm: "RS256", keys: keys)
    }
    if !isCertificate, let key = try? EdDSA.PublicKey(pem: text) {
      return JWTKeyFile(algorithm: "EdDSA", keys: await JWTKeyCollection().add(eddsa: key))
    }
    throw JWTKeyFileError(
      path: path,
      problem: "holds PEM that is not an RS256 (RSA, 2048 bits or more), ES256 (P-256)"
        + " or EdDSA (Ed25519) public key")
  }

  private static func describe(_ error: any Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
      underlying.domain == NSPOSIXErrorDomain,
      let message = strerror(Int32(underlying.code)).map({ String(cString: $0) })
    {
      return message
    }
    return nsError.localizedDescription
  }
}

/// The key file could not be used; the message names the path and what is wrong with it.
public struct JWTKeyFileError: Error, Sendable, CustomStringConvertible {
  public var path: String
  public var problem: String

  public var description: String { "JWT key file \(path) \(problem)" }
}
