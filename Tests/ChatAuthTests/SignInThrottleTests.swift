import Testing

@testable import ChatAuth

@Suite("SignInThrottle")
struct SignInThrottleTests {
  let clock = ManualClock()
  var throttle: SignInThrottle {
    SignInThrottle(maxFailures: 5, window: .seconds(60), now: { [clock] in clock.instant })
  }

  @Test("four failures in a minute still allow a try; the fifth refuses until the first is a minute old")
  func refusesAfterFive() {
    let throttle = throttle
    for _ in 0..<4 {
      throttle.recordFailure("alice")
      clock.advance(by: .seconds(1))
    }
    #expect(throttle.retryAfter("alice") == nil)
    throttle.recordFailure("alice")  // at t=4 s; the first was at t=0
    #expect(throttle.retryAfter("alice") == .seconds(56))
    clock.advance(by: .seconds(30))
    #expect(throttle.retryAfter("alice") == .seconds(26))
  }

  @Test("once the window has passed, the name may try again")
  func resetsAfterWindow() {
    let throttle = throttle
    for _ in 0..<5 { throttle.recordFailure("alice") }
    #expect(throttle.retryAfter("alice") != nil)
    clock.advance(by: .seconds(59))
    #expect(throttle.retryAfter("alice") == .seconds(1))
    clock.advance(by: .seconds(1))
    #expect(throttle.retryAfter("alice") == nil)
  }

  @Test("the window slides: a failure after the wait refuses until the next oldest is a minute old")
  func slidingWindow() {
    let throttle = throttle
    for _ in 0..<5 {  // at 0, 10, 20, 30, 40 s
      throttle.recordFailure("alice")
      clock.advance(by: .seconds(10))
    }
    clock.advance(by: .seconds(10))  // t=60: the first has left the window
    #expect(throttle.retryAfter("alice") == nil)
    throttle.recordFailure("alice")
    #expect(throttle.retryAfter("alice") == .seconds(10))  // until the one at 10 s leaves
  }

  @Test("five failures spread over a minute or more never refuse")
  func spreadFailures() {
    let throttle = throttle
    for _ in 0..<20 {
      throttle.recordFailure("alice")
      #expect(throttle.retryAfter("alice") == nil)
      clock.advance(by: .seconds(15))
    }
  }

  @Test("a success forgets the name's failures")
  func successResets() {
    let throttle = throttle
    for _ in 0..<4 { throttle.recordFailure("alice") }
    throttle.recordSuccess("alice")
    throttle.recordFailure("alice")
    #expect(throttle.retryAfter("alice") == nil)
    #expect(throttle.trackedNameCount == 1)
  }

  @Test("names are throttled independently")
  func independentNames() {
    let throttle = throttle
    for _ in 0..<5 { throttle.recordFailure("alice") }
    #expect(throttle.retryAfter("alice") != nil)
    #expect(throttle.retryAfter("bob") == nil)
  }

  @Test("names whose failures have all left the window are dropped as others arrive")
  func boundedMemory() {
    let throttle = throttle
    for index in 0..<1000 { throttle.recordFailure("name\(index)") }
    clock.advance(by: .seconds(61))
    for index in 0..<100 { throttle.recordFailure("other\(index)") }
    #expect(throttle.trackedNameCount < 1024)
  }
}
