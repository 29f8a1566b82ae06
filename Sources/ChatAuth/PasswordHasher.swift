import Crypto
import Foundation
import _CryptoExtras

/// Hashes passwords with scrypt and verifies them, off Swift's cooperative pool and NIO's event
/// loops: each hash takes about 128 MiB and a few hundred milliseconds at `.owasp`, so it runs on
/// a small dedicated pool of `maxConcurrent` threads and callers await it (queued in order
/// when all are busy).
///
/// Make one for the server and share it: each instance starts its own threads (copies share
/// them), which stop when the last copy goes.
public struct PasswordHasher: Sendable {
  /// scrypt's cost: N = 2^log2N, block size r, parallelism p. Memory is 128 · N · r · p bytes.
  public struct Parameters: Sendable, Hashable, CustomStringConvertible {
    public var log2N: Int
    public var r: Int
    public var p: Int

    public init(log2N: Int, r: Int, p: Int) {
      self.log2N = log2N
      self.r = r
      self.p = p
    }

    /// OWASP's minimum for scrypt: N=2^17, r=8, p=1 (128 MiB). The server's default.
    public static let owasp = Parameters(log2N: 17, r: 8, p: 1)
    /// N=2^10, r=8, p=1 (1 MiB): for tests only.
    public static let fastForTests = Parameters(log2N: 10, r: 8, p: 1)

    /// Bytes scrypt allocates with these parameters.
    public var memoryByteCount: Int { 128 << log2N * r * p }

    /// Stored hashes are read back with their own parameters: these bounds keep a corrupt or
    /// hostile stored value from asking for gigabytes or hours.
    var isWithinLimits: Bool {
      (1...24).contains(log2N) && (1...32).contains(r) && (1...16).contains(p)
        && memoryByteCount <= 1 << 30
    }

    public var description: String { "scrypt N=2^\(log2N) r=\(r) p=\(p)" }
  }

  public let parameters: Parameters
  private let pool: HashingThreadPool

  /// - Parameters:
  ///   - parameters: the cost of new hashes (stored hashes verify with their own).
  ///   - maxConcurrent: how many hashes may run at once; the rest wait their turn. Each one
  ///     holds `parameters.memoryByteCount` while it runs.
  public init(parameters: Parameters = .owasp, maxConcurrent: Int = 2) {
    precondition(parameters.isWithinLimits, "scrypt parameters out of range: \(parameters)")
    precondition(maxConcurrent >= 1, "maxConcurrent must be at least 1")
    self.parameters = parameters
    self.pool = HashingThreadPool(threads: maxConcurrent)
  }

  /// A self-describing encoding (algorithm, parameters, 16-byte random salt, 32-byte key), as
  /// Data: see `PasswordHash`.
  public func hash(_ password: String) async throws -> Data {
    var salt = [UInt8](repeating: 0, count: PasswordHash.saltByteCount)
    var generator = SystemRandomNumberGenerator()
    for index in salt.indices { salt[index] = generator.next() }
    let key = try await derive(password, salt: salt, parameters: parameters)
    return PasswordHash(parameters: parameters, salt: salt, key: key).encoded
  }

  /// Constant-time compare; `stored == nil` (unknown user) still runs one hash with the same
  /// cost, then returns false. Stored hashes with other parameters verify with their own
  /// parameters. A stored value that does not parse costs a hash too and returns false.
  public func verify(_ password: String, against stored: Data?) async -> Bool {
    guard let stored, let expected = PasswordHash(encoded: stored) else {
      // Same work as a real check, so a response's timing doesn't tell a name exists.
      _ = try? await hash(password)
      return false
    }
    guard let key = try? await derive(password, salt: expected.salt, parameters: expected.parameters)
    else { return false }
    return Self.constantTimeEqual(key, expected.key)
  }

  /// True when a stored hash was made with other parameters than this hasher's: the server may
  /// store a new hash after a successful sign-in.
  public func needsRehash(_ stored: Data) -> Bool {
    PasswordHash(encoded: stored)?.parameters != parameters
  }

  /// Hashes computed so far and the most computed at once (what the tests check).
  var jobCounts: HashingThreadPool.JobCounts { pool.jobCounts }

  func derive(_ password: String, salt: [UInt8], parameters: Parameters) async throws
    -> [UInt8]
  {
    // NFC, so the same password typed on systems that compose accents differently matches.
    let passwordBytes = Array(password.precomposedStringWithCanonicalMapping.utf8)
    return try await pool.run {
      let key = try KDF.Scrypt.deriveKey(
        from: passwordBytes, salt: salt, outputByteCount: PasswordHash.keyByteCount,
        rounds: 1 << parameters.log2N, blockSize: parameters.r, parallelism: parameters.p)
      return key.withUnsafeBytes { Array($0) }
    }
  }

  static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
  }
}
