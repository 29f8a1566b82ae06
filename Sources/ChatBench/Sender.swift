import ChatAPI
import GRPCCore
import Synchronization

/// What one sender's SendMessage calls came to.
final class SendCounters: Sendable {
  let accepted = Atomic<Int>(0)
  private let errors = Mutex<[String: Int]>([:])
  /// How long accepted SendMessage calls took, call to OK, in µs: on a
  /// durable store, what waiting for the commit adds.
  private let callLatency = Mutex(LatencyHistogram())

  func recordAccepted(calledAt: UInt64) {
    accepted.add(1, ordering: .relaxed)
    let now = BenchClock.now()
    let micros = now > calledAt ? (now - calledAt) / 1000 : 0
    callLatency.withLock { _ = $0.record(micros) }
  }

  var latency: LatencyHistogram { callLatency.withLock { $0 } }

  func recordError(_ error: any Error) {
    let code = (error as? RPCError).map { "\($0.code)" } ?? "error"
    errors.withLock { $0[code, default: 0] += 1 }
  }

  var errorsByCode: [String: Int] { errors.withLock { $0 } }
}

/// When a sender sends: flooding (each of `inFlight` loops sends again as
/// soon as its previous call returns) or on a fixed schedule that does not
/// wait for responses.
struct SendSchedule: Sendable {
  var startAt: UInt64
  var endAt: UInt64
  /// Nanoseconds between this sender's sends; nil floods.
  var interval: UInt64?
  /// This sender's first send, after `startAt` (spreads senders evenly).
  var offset: UInt64 = 0
  var inFlight = 1
  var messageBytes = 64
  var callTimeout: Duration = .seconds(30)

  /// Spreads `rate` messages per second (nil: flood) over `senders`.
  static func plan(
    rate: Double?, senders: Int, duration: Duration, inFlight: Int, messageBytes: Int, startAt: UInt64
  ) -> [SendSchedule] {
    let nanos = UInt64(duration.components.seconds) * 1_000_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000)
    return (0..<senders).map { index in
      var schedule = SendSchedule(startAt: startAt, endAt: startAt + nanos)
      schedule.inFlight = max(1, inFlight)
      schedule.messageBytes = messageBytes
      if let rate, rate > 0 {
        schedule.interval = UInt64(Double(senders) * 1e9 / rate)
        schedule.offset = UInt64(Double(index) * 1e9 / rate)
      }
      return schedule
    }
  }
}

extension BenchSession {
  /// Sends messages to `channel` as `schedule` says. The text carries the
  /// send time: the actual one when flooding, the scheduled one otherwise
  /// (so a late send shows as latency instead of being hidden).
  func send(to channel: Chat_V1_Channel, _ schedule: SendSchedule, counters: SendCounters) async {
    var callOptions = CallOptions.defaults
    callOptions.timeout = schedule.callTimeout
    let options = callOptions
    let authorization = self.authorization
    let chat = connection.chat
    @Sendable func sendOne(sentAt: UInt64) async {
      let request = Chat_V1_SendMessageRequest.with {
        $0.to = channel
        $0.text = BenchText.make(sentAt: sentAt, bytes: schedule.messageBytes)
      }
      let calledAt = BenchClock.now()
      do {
        _ = try await chat.sendMessage(request, metadata: authorization, options: options)
        counters.recordAccepted(calledAt: calledAt)
      } catch {
        counters.recordError(error)
      }
    }

    await withDiscardingTaskGroup { group in
      if let interval = schedule.interval {
        var next = schedule.startAt + schedule.offset
        while next < schedule.endAt && !Task.isCancelled {
          let now = BenchClock.now()
          if next > now { try? await Task.sleep(for: .nanoseconds(Int64(next - now))) }
          let sentAt = next
          group.addTask { await sendOne(sentAt: sentAt) }
          next += interval
        }
      } else {
        for _ in 0..<schedule.inFlight {
          group.addTask {
            while BenchClock.now() < schedule.endAt && !Task.isCancelled {
              await sendOne(sentAt: BenchClock.now())
            }
          }
        }
      }
    }
  }
}

/// Runs `body` for each element, at most `limit` at a time; the first error
/// cancels the rest and is thrown.
func forEachConcurrently<Element: Sendable>(
  _ elements: some Sequence<Element>, limit: Int, _ body: @escaping @Sendable (Element) async throws -> Void
) async throws {
  try await withThrowingTaskGroup(of: Void.self) { group in
    var running = 0
    for element in elements {
      if running >= limit {
        try await group.next()
        running -= 1
      }
      group.addTask { try await body(element) }
      running += 1
    }
    try await group.waitForAll()
  }
}
