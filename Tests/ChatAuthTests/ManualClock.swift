import Foundation
import Synchronization

/// A clock the tests move by hand: `instant` for `SignInThrottle`, `date` for `JWTVerifier`.
final class ManualClock: Sendable {
  private let offset = Mutex(Duration.zero)
  private let startInstant = ContinuousClock.now
  private let startDate = Date(timeIntervalSince1970: 1_900_000_000)

  func advance(by duration: Duration) {
    offset.withLock { $0 += duration }
  }

  var instant: ContinuousClock.Instant { startInstant + offset.withLock { $0 } }

  var date: Date {
    let offset = offset.withLock { $0 }
    let seconds = Double(offset.components.seconds) + Double(offset.components.attoseconds) * 1e-18
    return startDate.addingTimeInterval(seconds)
  }
}
