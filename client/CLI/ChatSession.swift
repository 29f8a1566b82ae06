import ChatAPI
import ChatClientCore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// One user's session: the Connect stream, printed as it arrives and opened again when it
/// breaks, and the commands read from the console, one at a time, each as a unary call.
struct ChatSession: Sendable {
  let chat: Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>
  let state: SessionState
  let tokens: TokenStore
  let console: any Console
  let formatter: EventFormatter
  /// nil: a broken stream ends the session, as before reconnecting existed.
  let backoff: ReconnectBackoff?

  /// How a session ended.
  enum End {
    /// `/quit`, `/signout` or the end of input.
    case userQuit
    /// The server refused the user (bad or taken name, shutting down) or
    /// could not be reached.
    case refused(any Error)
    /// The server ended the stream (kicked, slow consumer, shutdown) or the
    /// connection broke; nil: the server closed it without an error.
    case streamEnded((any Error)?)
  }

  /// Calls fail at once when the server is unreachable rather than waiting
  /// for it, and a unary call never hangs the input.
  private static let connectOptions: CallOptions = {
    var options = CallOptions.defaults
    options.waitForReady = false
    return options
  }()
  private static let callOptions: CallOptions = {
    var options = connectOptions
    options.timeout = .seconds(10)
    return options
  }()

  func run() async -> End {
    let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
    return await withTaskGroup(of: End.self) { group in
      group.addTask { await holdStream(ready: readyContinuation) }
      group.addTask {
        // Nothing is read before the first Welcome (or before knowing there is none to wait for).
        var next = ready.makeAsyncIterator()
        guard await next.next() != nil else { return .userQuit }
        console.start()
        return await readCommands()
      }
      // Whichever ends first ends the session; the other is cancelled.
      let end = await group.next()!
      group.cancelAll()
      return end
    }
  }

  // MARK: The stream

  private enum StreamOutcome {
    /// The identity changed (a sign-in or sign-out): connect as the new one.
    case identityChanged
    /// The stream ended; `welcomed` says whether it had begun.
    case ended((any Error)?, welcomed: Bool)
  }

  /// Connects, prints events, and connects again after a break, until the session ends.
  private func holdStream(ready: AsyncStream<Void>.Continuation) async -> End {
    // Whether some stream of this identity was welcomed and then broke: later Welcomes say
    // what was recovered, and failures to connect are retried rather than final.
    var reconnecting = false
    var attempt = 0
    var everReady = false
    // Yielding after the first time does nothing: the stream is finished.
    let setReady: @Sendable () -> Void = {
      ready.yield()
      ready.finish()
    }

    while !Task.isCancelled {
      let (identity, generation) = state.identity
      if identity == .none {
        everReady = true
        setReady()
        await state.waitForChange(after: generation)
        reconnecting = false
        attempt = 0
        continue
      }

      let outcome = await connectOnce(
        as: identity, resume: reconnecting ? state.resume : nil, generation: generation,
        reconnecting: reconnecting, welcomed: setReady)
      let error: (any Error)?
      let welcomed: Bool
      switch outcome {
      case .identityChanged:
        reconnecting = false
        attempt = 0
        continue
      case .ended(let endError, let wasWelcomed):
        (error, welcomed) = (endError, wasWelcomed)
      }
      if Task.isCancelled { break }
      if welcomed {
        everReady = true
        attempt = 0
      }

      if state.signingOut {
        // The server ends the streams of a revoked token; the command loop ends the session.
        await state.waitForChange(after: generation)
        continue
      }
      if let backoff, welcomed || reconnecting, ReconnectBackoff.isReconnectable(error) {
        let delay = backoff.delay(forAttempt: attempt)
        attempt += 1
        let seconds = (Double(delay.components.seconds) + Double(delay.components.attoseconds) * 1e-18)
          .formatted(.number.precision(.fractionLength(1)))
        let why = welcomed ? formatter.disconnected(error) : formatter.failure(error ?? CancellationError(), prefix: "cannot reconnect")
        console.print("\(why) (reconnecting in \(seconds) s)")
        reconnecting = true
        if await sleepUnlessIdentityChanges(delay, after: generation) {
          reconnecting = false
          attempt = 0
        }
        continue
      }
      if !welcomed && !reconnecting {
        if case .account(let token) = identity, let rpcError = error as? RPCError, rpcError.code == .unauthenticated {
          // A saved token the server no longer takes (expired, revoked, or another server's).
          console.print(formatter.failure(rpcError, prefix: "cannot connect as \(token.username.terminalSafe)"))
          try? tokens.delete(token.username)
          console.print(formatter.note("the saved token is deleted; /signin \(token.username.terminalSafe) to sign in again"))
          state.change(to: .none)
          continue
        }
        if everReady {
          // A sign-in worked but its Connect did not (too many sessions, say): the commands go on.
          console.print(formatter.failure(error ?? CancellationError(), prefix: "cannot connect"))
          state.change(to: .none)
          continue
        }
        return .refused(error ?? CancellationError())
      }
      return .streamEnded(error)
    }
    return .userQuit
  }

  /// Sleeps for `delay`; true if the identity changed meanwhile (which cuts the sleep short).
  private func sleepUnlessIdentityChanges(_ delay: Duration, after generation: Int) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
      group.addTask {
        try? await Task.sleep(for: delay)
        return false
      }
      group.addTask {
        await state.waitForChange(after: generation)
        return !Task.isCancelled
      }
      let changed = await group.next()!
      group.cancelAll()
      return changed
    }
  }

  /// One Connect stream, until it ends or the identity changes.
  private func connectOnce(
    as identity: SessionState.Identity, resume: Chat_V1_StreamPosition?, generation: Int, reconnecting: Bool,
    welcomed: @escaping @Sendable () -> Void
  ) async -> StreamOutcome {
    await withTaskGroup(of: StreamOutcome?.self) { group in
      group.addTask {
        await stream(as: identity, resume: resume, reconnecting: reconnecting, welcomed: welcomed)
      }
      group.addTask {
        await state.waitForChange(after: generation)
        return Task.isCancelled ? nil : .identityChanged
      }
      var outcome: StreamOutcome?
      while outcome == nil, let next = await group.next() {
        outcome = next
        group.cancelAll()
      }
      return outcome ?? .identityChanged
    }
  }

  private func stream(
    as identity: SessionState.Identity, resume: Chat_V1_StreamPosition?, reconnecting: Bool,
    welcomed: @escaping @Sendable () -> Void
  ) async -> StreamOutcome {
    var request = Chat_V1_ConnectRequest()
    var metadata: Metadata = [:]
    switch identity {
    case .none:
      return .identityChanged
    case .guest(let name):
      request.username = name
    case .account(let token):
      // The token says who; the name stays empty.
      metadata = ["authorization": .string(token.authorizationValue)]
    }
    if let resume { request.resume = resume }

    do {
      return try await chat.connect(request, metadata: metadata, options: Self.connectOptions) { response in
        var wasWelcomed = false
        do {
          for try await event in response.messages {
            if !wasWelcomed, case .welcome(let welcome) = event.kind {
              wasWelcomed = true
              state.welcomed(welcome)
              if reconnecting {
                console.print(formatter.note(ResumePosition.reconnectNote(for: welcome)))
              } else {
                console.print(formatter.line(for: event))
              }
              welcomed()
              continue
            }
            console.print(formatter.line(for: event))
            state.printed(event)
          }
          return .ended(nil, welcomed: wasWelcomed)
        } catch {
          return .ended(error, welcomed: wasWelcomed)
        }
      }
    } catch {
      return .ended(error, welcomed: false)
    }
  }

  // MARK: Commands

  /// Runs commands until `/quit`, `/signout` or the end of input.
  private func readCommands() async -> End {
    let calls = GRPCChatCalls(chat: chat, state: state, options: Self.callOptions)
    let accounts = SessionAccounts(state: state, tokens: tokens, console: console, formatter: formatter)
    var runner = CommandRunner(
      calls: RetryingChatCalls(calls), output: console, formatter: formatter,
      username: state.currentUsername ?? "", authorization: state.guestAuthorization, accounts: accounts)
    while let line = await console.lines.next() {
      if console.echoesInput { console.print(formatter.echo(line)) }
      if await runner.run(line) == .quit { return .userQuit }
    }
    return .userQuit
  }
}
