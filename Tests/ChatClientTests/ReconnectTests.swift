import ChatAPI
import ChatClientCore
import GRPCCore
import Testing

@Suite("Reconnecting")
struct ReconnectTests {
  let backoff = ReconnectBackoff()

  @Test("the waits start at 0.5 s and double up to 15 s")
  func schedule() {
    let seconds = (0..<9).map { backoff.base(forAttempt: $0) }
    #expect(seconds == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(15), .seconds(15), .seconds(15), .seconds(15)])
    #expect(backoff.base(forAttempt: 1000) == .seconds(15))
  }

  @Test("jitter draws each wait from its upper three quarters", arguments: 0..<8)
  func jitter(attempt: Int) {
    let base = backoff.base(forAttempt: attempt)
    #expect(backoff.delay(forAttempt: attempt, random: 0) == base)
    #expect(backoff.delay(forAttempt: attempt, random: 0.5) == base * 0.875)
    for _ in 0..<100 {
      let delay = backoff.delay(forAttempt: attempt)
      #expect(delay <= base && delay >= base * 0.75)
    }
  }

  @Test(
    "UNAVAILABLE and transport failures reconnect; statuses the server chose do not",
    arguments: [
      (RPCError(code: .unavailable, message: "the server is shutting down.") as (any Error)?, true),
      (RPCError(code: .permissionDenied, message: "kicked"), false),
      (RPCError(code: .unauthenticated, message: "signed out"), false),
      (RPCError(code: .resourceExhausted, message: "too slow"), false),
      (CancellationError(), false),
      (nil, false),
    ] as [((any Error)?, Bool)])
  func reconnectable(error: (any Error)?, reconnects: Bool) {
    #expect(ReconnectBackoff.isReconnectable(error) == reconnects)
  }

  @Test("a non-status failure (a broken connection) reconnects")
  func transportFailure() {
    struct ConnectionReset: Error {}
    #expect(ReconnectBackoff.isReconnectable(ConnectionReset()))
  }
}

@Suite("Where a reconnect resumes")
struct ResumePositionTests {
  func welcome(epoch: String = "e1", seq: UInt64, replayed: UInt32 = 0, recovered: Bool = true) -> Chat_V1_Welcome {
    .with {
      $0.username = "alice"
      $0.position = .with {
        $0.epoch = epoch
        $0.seq = seq
      }
      $0.replayed = replayed
      $0.recovered = recovered
    }
  }

  func event(seq: UInt64) -> Chat_V1_Event {
    .with {
      $0.seq = seq
      $0.message = .with { $0.text = "m\(seq)" }
    }
  }

  @Test("nothing to resume before a Welcome, nor after one without a position")
  func beforeWelcome() {
    var position = ResumePosition()
    #expect(position.resume == nil)
    position.welcomed(.with { $0.username = "guest" })
    position.printed(event(seq: 4))
    #expect(position.resume == nil)
  }

  @Test("with nothing replayed, the stream continues from Welcome's position, then from each logged event printed")
  func followsPrintedEvents() {
    var position = ResumePosition()
    position.welcomed(welcome(seq: 10))
    #expect(position.resume == .with { $0.epoch = "e1"; $0.seq = 10 })
    position.printed(event(seq: 11))
    position.printed(.with { $0.notice = .with { $0.text = "not logged" } })  // seq 0
    position.printed(event(seq: 14))
    #expect(position.resume == .with { $0.epoch = "e1"; $0.seq = 14 })
  }

  @Test("during a catch-up only what was printed counts")
  func catchUp() {
    var position = ResumePosition()
    position.welcomed(welcome(seq: 10))
    position.printed(event(seq: 12))
    // Reconnected: 5 missed events follow, the position is past them.
    position.welcomed(welcome(seq: 20, replayed: 5))
    #expect(position.resume?.seq == 12)
    position.printed(event(seq: 15))
    position.printed(event(seq: 17))
    #expect(position.resume?.seq == 17)  // the stream broke here: resume after 17, not 20
  }

  @Test("another epoch (a new store) forgets the old seq")
  func newEpoch() {
    var position = ResumePosition()
    position.welcomed(welcome(epoch: "e1", seq: 100))
    position.printed(event(seq: 120))
    position.welcomed(welcome(epoch: "e2", seq: 3, replayed: 2, recovered: false))
    #expect(position.resume == nil)
    position.printed(event(seq: 2))
    #expect(position.resume == .with { $0.epoch = "e2"; $0.seq = 2 })
  }

  @Test(
    "a reconnect says whether anything was missed",
    arguments: [
      (true, UInt32(3), "reconnected; 3 missed events follow"),
      (true, 1, "reconnected; 1 missed event follows"),
      (true, 0, "reconnected; nothing was missed"),
      (false, 0, "reconnected; some events may be missing (use /history)"),
    ])
  func note(recovered: Bool, replayed: UInt32, text: String) {
    #expect(ResumePosition.reconnectNote(for: welcome(seq: 1, replayed: replayed, recovered: recovered)) == text)
  }
}
