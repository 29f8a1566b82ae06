import ChatClientCore
import GRPCCore
import Synchronization
import Testing

/// Records the waits asked of it instead of waiting.
final class Sleeps: Sendable {
  private let waits = Mutex<[Duration]>([])
  var recorded: [Duration] { waits.withLock { $0 } }
  func sleep(_ duration: Duration) { waits.withLock { $0.append(duration) } }
}

/// Counts the attempts of a call that fails with `errors` first, then returns the attempt's number.
final class Attempts: Sendable {
  private let state: Mutex<(count: Int, errors: [any Error & Sendable])>
  init(failingWith errors: [any Error & Sendable]) { state = Mutex((0, errors)) }
  var count: Int { state.withLock { $0.count } }
  func attempt() throws -> Int {
    try state.withLock { state in
      state.count += 1
      if !state.errors.isEmpty { throw state.errors.removeFirst() }
      return state.count
    }
  }
}

@Suite("Retrying after the server's pushback")
struct PushbackRetryTests {
  static func rateLimited(_ pushback: String?) -> RPCError {
    RPCError(
      code: .resourceExhausted, message: "user 'alice' is over the rate limit of 20 calls per second with bursts of 2; retry in 0.04 s.",
      metadata: pushback.map { ["grpc-retry-pushback-ms": .string($0)] } ?? [:])
  }

  @Test(
    "the wait is RESOURCE_EXHAUSTED's grpc-retry-pushback-ms, and nothing else",
    arguments: [
      (rateLimited("40"), Duration?.some(.milliseconds(40))),
      (rateLimited("0"), .milliseconds(0)),
      (rateLimited(nil), nil),
      (rateLimited("-1"), nil),
      (rateLimited("soon"), nil),
      (RPCError(code: .unavailable, message: "x", metadata: ["grpc-retry-pushback-ms": "40"]), nil),
      (CommandError("usage: /list"), nil),
    ] as [(any Error & Sendable, Duration?)])
  func pushback(error: any Error & Sendable, wait: Duration?) {
    #expect(PushbackRetry.pushback(in: error) == wait)
  }

  @Test("a rate-limited call is retried after each wait the server asks for, then succeeds")
  func retries() async throws {
    let sleeps = Sleeps()
    let attempts = Attempts(failingWith: [Self.rateLimited("40"), Self.rateLimited("15"), Self.rateLimited("40")])
    let retry = PushbackRetry(sleep: { sleeps.sleep($0) })
    #expect(try await retry.run { try attempts.attempt() } == 4)
    #expect(sleeps.recorded == [.milliseconds(40), .milliseconds(15), .milliseconds(40)])
  }

  @Test("errors without pushback are thrown at once", arguments: [
    rateLimited(nil) as any Error & Sendable,
    RPCError(code: .notFound, message: "no group 'g'."),
  ])
  func noPushback(error: any Error & Sendable) async {
    let sleeps = Sleeps()
    let attempts = Attempts(failingWith: [error])
    await #expect(throws: (any Error).self) { try await PushbackRetry(sleep: { sleeps.sleep($0) }).run { try attempts.attempt() } }
    #expect(attempts.count == 1)
    #expect(sleeps.recorded.isEmpty)
  }

  @Test(
    "retries stop at the cap on retries or on the total wait, and the error is thrown",
    arguments: [
      (3, Duration.seconds(30), "40", 3),
      (10, .seconds(1), "400", 2),
      (10, .milliseconds(100), "400", 0),
    ])
  func bounded(maxRetries: Int, maxTotalWait: Duration, pushback: String, waits: Int) async {
    let sleeps = Sleeps()
    let attempts = Attempts(failingWith: Array(repeating: Self.rateLimited(pushback), count: 20))
    let retry = PushbackRetry(maxRetries: maxRetries, maxTotalWait: maxTotalWait, sleep: { sleeps.sleep($0) })
    let error = await #expect(throws: RPCError.self) { try await retry.run { try attempts.attempt() } }
    #expect(error?.code == .resourceExhausted)
    #expect(sleeps.recorded.count == waits)
    #expect(attempts.count == waits + 1)
  }

  @Test("a script faster than the rate limit loses no line: each is retried until it goes through, in order")
  func script() async {
    let calls = FakeChatCalls()
    let output = RecordingOutput()
    let sleeps = Sleeps()
    var runner = CommandRunner(
      calls: RetryingChatCalls(calls, retry: PushbackRetry(sleep: { sleeps.sleep($0) })), output: output,
      formatter: EventFormatter(), username: "alice", authorization: .username)
    for number in 1...5 {
      // Each line is refused once first.
      calls.fail(with: Self.rateLimited("50"))
      _ = await runner.run("/say general line \(number)")
    }
    #expect(output.lines.isEmpty)
    #expect(calls.made == (1...5).flatMap { Array(repeating: "send #general line \($0)", count: 2) })
    #expect(sleeps.recorded.count == 5)
  }
}
