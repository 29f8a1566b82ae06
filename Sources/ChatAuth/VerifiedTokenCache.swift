import Foundation
import Synchronization

/// JWTs already verified, by the SHA-256 of the token, until their `exp`: a client sends the same
/// token with every call, and a signature check (RSA especially) costs far more than a lookup.
final class VerifiedTokenCache: Sendable {
  struct Entry: Sendable {
    var subject: String
    var expires: Date
  }

  let capacity: Int
  private let entries = Mutex<[Data: Entry]>([:])

  init(capacity: Int) {
    self.capacity = capacity
  }

  func entry(for tokenHash: Data, now: Date) -> Entry? {
    entries.withLock { entries in
      guard let entry = entries[tokenHash] else { return nil }
      guard now < entry.expires else {
        entries[tokenHash] = nil
        return nil
      }
      return entry
    }
  }

  func insert(_ entry: Entry, for tokenHash: Data, now: Date) {
    guard capacity > 0 else { return }
    entries.withLock { entries in
      if entries.count >= capacity, entries[tokenHash] == nil {
        entries = entries.filter { now < $0.value.expires }
        // Still full of live tokens: drop the one that would expire first.
        if entries.count >= capacity,
          let soonest = entries.min(by: { $0.value.expires < $1.value.expires })
        {
          entries[soonest.key] = nil
        }
      }
      entries[tokenHash] = entry
    }
  }

  var count: Int { entries.withLock { $0.count } }
}
