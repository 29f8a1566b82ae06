import ChatAPI
import GRPCCore
import GRPCProtobuf
import Histogram
import Synchronization

/// Latencies in microseconds: 3 significant digits, sized as values arrive.
typealias LatencyHistogram = Histogram<UInt32>

/// What the controlling task reads about one session while it runs; each
/// value has one writer (the session's task), so stores are uncontended.
final class SessionProgress: Sendable {
  /// Message events received so far.
  let messages = Atomic<Int>(0)
  /// `BenchClock` time of Welcome; 0 until then.
  let welcomedAt = Atomic<UInt64>(0)
  /// The stream ended before the benchmark closed it.
  let ended = Atomic<Bool>(false)
}

/// Counters all sessions share, touched on rare events only (never per message).
final class FleetCounters: Sendable {
  let welcomed = Atomic<Int>(0)
  let ended = Atomic<Int>(0)
  /// Ended without ever receiving Welcome.
  let failedToConnect = Atomic<Int>(0)
  let memberJoined = Atomic<Int>(0)
}

/// A MemberLeft a session saw, and how many messages it had received before it.
struct Departure: Sendable {
  let username: String
  let afterMessages: Int
}

/// How a session's stream ended.
enum SessionOutcome: Sendable, Equatable {
  /// Still open when the benchmark closed it.
  case open
  /// The server ended it (status `code`), or the call failed.
  case ended(code: String, message: String)
}

/// Everything one session saw, handed back when its task ends.
struct SessionTally: Sendable {
  let index: Int
  var startedAt: UInt64
  var welcomedAt: UInt64 = 0
  var messages = 0
  var outOfOrder = 0
  var lastMessageID: UInt64 = 0
  var lastReceivedAt: UInt64 = 0
  /// Message latencies, when this run records them.
  var latency: LatencyHistogram?
  var memberJoined = 0
  var otherEvents = 0
  var departures: [Departure] = []
  var outcome = SessionOutcome.open

  init(index: Int, startedAt: UInt64, recordLatency: Bool = false) {
    self.index = index
    self.startedAt = startedAt
    if recordLatency { latency = LatencyHistogram() }
  }

  /// Per delivery: counters, and the latency recorded in place (no copy of the histogram).
  mutating func recordMessage(_ event: BenchEvent, at now: UInt64) {
    messages += 1
    if event.messageID <= lastMessageID { outOfOrder += 1 }
    lastMessageID = event.messageID
    lastReceivedAt = now
    if event.sentAt != 0 {
      latency?.record(now > event.sentAt ? (now - event.sentAt) / 1000 : 0)
    }
  }
}

/// One user: a Connect stream on a shared connection, and the unary calls
/// made for it with `authorization` set.
struct BenchSession: Sendable {
  let index: Int
  let name: String
  let connection: BenchConnection
  /// The only session on its connection.
  let ownsConnection: Bool
  let progress = SessionProgress()

  var authorization: Metadata { ["authorization": .string(name)] }

  /// Runs the Connect stream until it ends or the task is cancelled; frees
  /// its `gate` slot at Welcome (or at the end, if Welcome never came).
  func run(gate: ConnectGate, counters: FleetCounters, recordLatency: Bool) async -> SessionTally {
    let start = SessionTally(index: index, startedAt: BenchClock.now(), recordLatency: recordLatency)
    var options = CallOptions.defaults
    // Fail rather than wait forever when the server cannot be reached.
    options.waitForReady = false
    var tally: SessionTally
    do {
      tally = try await connection.client.serverStreaming(
        request: ClientRequest(message: Chat_V1_ConnectRequest.with { $0.username = name }),
        descriptor: Chat_V1_ChatService.Method.Connect.descriptor,
        serializer: ProtobufSerializer<Chat_V1_ConnectRequest>(),
        deserializer: BenchEventDeserializer(),
        options: options
      ) { [progress] response in
        var tally = start
        do {
          for try await event in response.messages {
            switch event.kind {
            case .message:
              tally.recordMessage(event, at: BenchClock.now())
              progress.messages.store(tally.messages, ordering: .relaxed)
            case .welcome:
              tally.welcomedAt = BenchClock.now()
              progress.welcomedAt.store(tally.welcomedAt, ordering: .relaxed)
              counters.welcomed.add(1, ordering: .relaxed)
              gate.release()
            case .memberJoined:
              tally.memberJoined += 1
              counters.memberJoined.add(1, ordering: .relaxed)
            case .memberLeft:
              tally.departures.append(Departure(username: event.username ?? "", afterMessages: tally.messages))
            case .notice, .unknown:
              tally.otherEvents += 1
            }
          }
          if !Task.isCancelled { tally.outcome = .ended(code: "ok", message: "the server ended the stream") }
        } catch {
          if !Task.isCancelled { tally.outcome = Self.outcome(error) }
        }
        return tally
      }
    } catch {
      tally = start
      tally.outcome = Task.isCancelled ? .open : Self.outcome(error)
    }
    if tally.welcomedAt == 0 {
      counters.failedToConnect.add(1, ordering: .relaxed)
      // A connection nobody else uses would otherwise keep reconnecting,
      // adding to whatever made this session fail.
      if ownsConnection { connection.client.beginGracefulShutdown() }
      gate.release()
    }
    if tally.outcome != .open {
      progress.ended.store(true, ordering: .relaxed)
      counters.ended.add(1, ordering: .relaxed)
    }
    return tally
  }

  static func outcome(_ error: any Error) -> SessionOutcome {
    if let error = error as? RPCError {
      return .ended(code: "\(error.code)", message: error.message)
    }
    return .ended(code: "error", message: "\(error)")
  }
}
