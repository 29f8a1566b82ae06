import Foundation
import Testing

@testable import ChatAuth

@Suite("PasswordHasher")
struct PasswordHasherTests {
  let hasher = PasswordHasher(parameters: .fastForTests)

  @Test("a hashed password verifies")
  func roundTrip() async throws {
    let stored = try await hasher.hash("correct horse battery staple")
    #expect(await hasher.verify("correct horse battery staple", against: stored))
  }

  @Test("a wrong password does not verify", arguments: [
    "correct horse battery stapl", "Correct horse battery staple", "", "correct horse battery staple ",
  ])
  func wrongPassword(attempt: String) async throws {
    let stored = try await hasher.hash("correct horse battery staple")
    #expect(await hasher.verify(attempt, against: stored) == false)
  }

  @Test("an unknown user (no stored hash) still costs one hash, then fails")
  func unknownUserCostsAHash() async {
    let before = hasher.jobCounts.completed
    #expect(await hasher.verify("whatever password", against: nil) == false)
    #expect(hasher.jobCounts.completed == before + 1)
  }

  @Test("a stored value that does not parse costs one hash and fails")
  func unparsableStoredValue() async {
    let before = hasher.jobCounts.completed
    #expect(await hasher.verify("whatever password", against: Data("$2b$12$bcrypt".utf8)) == false)
    #expect(hasher.jobCounts.completed == before + 1)
  }

  @Test("the same password hashed twice gets distinct salts and keys")
  func distinctSalts() async throws {
    let first = try #require(PasswordHash(encoded: try await hasher.hash("same password")))
    let second = try #require(PasswordHash(encoded: try await hasher.hash("same password")))
    #expect(first.salt != second.salt)
    #expect(first.key != second.key)
  }

  @Test("the encoding is PHC scrypt with the parameters, a 16-byte salt and a 32-byte key")
  func encodingParses() async throws {
    let stored = try await hasher.hash("a password")
    let text = try #require(String(data: stored, encoding: .utf8))
    #expect(text.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
    let parsed = try #require(PasswordHash(encoded: stored))
    #expect(parsed.parameters == .fastForTests)
    #expect(parsed.salt.count == 16)
    #expect(parsed.key.count == 32)
    #expect(parsed.encoded == stored)
  }

  @Test("malformed encodings do not parse", arguments: [
    "",
    "$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA",  // no key
    "$argon2id$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "$scrypt$ln=10,r=8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "$scrypt$ln=10,r=8,p=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // 2^40
    "$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // 15-byte salt
    "$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // 30-byte key
    "$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // padding
  ])
  func malformedEncodings(encoded: String) {
    #expect(PasswordHash(encoded: Data(encoded.utf8)) == nil)
  }

  @Test("a hash stored with other parameters verifies with its own, and asks for a rehash")
  func otherParameters() async throws {
    let older = PasswordHasher(parameters: .init(log2N: 11, r: 8, p: 1))
    let stored = try await older.hash("an older password")
    #expect(await hasher.verify("an older password", against: stored))
    #expect(await hasher.verify("another password", against: stored) == false)
    #expect(hasher.needsRehash(stored))
    #expect(hasher.needsRehash(try await hasher.hash("x")) == false)
  }

  @Test("scrypt is called with N, r and p in the right places (RFC 7914's test vector)")
  func knownAnswer() async throws {
    let key = try await hasher.derive(
      "password", salt: Array("NaCl".utf8), parameters: .init(log2N: 10, r: 8, p: 16))
    let hex = key.map { String(format: "%02x", $0) }.joined()
    #expect(hex == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")
  }

  @Test("a password typed with a combining accent matches the precomposed one")
  func unicodeNormalization() async throws {
    let stored = try await hasher.hash("caf\u{E9} au lait")
    #expect(await hasher.verify("cafe\u{301} au lait", against: stored))
  }

  @Test("no more than maxConcurrent hashes run at once, and all of them finish")
  func boundedConcurrency() async throws {
    let hasher = PasswordHasher(parameters: .init(log2N: 12, r: 8, p: 1), maxConcurrent: 2)
    try await withThrowingTaskGroup(of: Data.self) { group in
      for index in 0..<8 { group.addTask { try await hasher.hash("password \(index)") } }
      for try await _ in group {}
    }
    #expect(hasher.jobCounts.completed == 8)
    #expect(hasher.jobCounts.peakRunning <= 2)
  }

  @Test("the OWASP default is N=2^17, r=8, p=1 (128 MiB)")
  func owaspDefault() {
    #expect(PasswordHasher.Parameters.owasp == .init(log2N: 17, r: 8, p: 1))
    #expect(PasswordHasher.Parameters.owasp.memoryByteCount == 128 << 20)
    #expect(PasswordHasher().parameters == .owasp)
  }
}
