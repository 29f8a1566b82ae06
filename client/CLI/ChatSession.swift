import ChatAPI
import ChatClientCore
import GRPCCore
import GRPCNIOTransportHTTP2

/// One user's session: the Connect stream, printed as it arrives, and the
/// commands read from the console, one at a time, each as a unary call.
struct ChatSession: Sendable {
  let chat: Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>
  let username: String
  let authorization: CallAuthorization
  let console: any Console
  let formatter: EventFormatter

  /// How a session ended.
  enum End {
    /// `/quit` or the end of input.
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
    do {
      return try await chat.connect(.with { $0.username = username }, options: Self.connectOptions) { response in
        await withTaskGroup(of: End.self) { group in
          let (welcomes, welcome) = AsyncStream<Chat_V1_Welcome>.makeStream()
          group.addTask { await printEvents(response.messages, welcome: welcome) }
          group.addTask {
            var next = welcomes.makeAsyncIterator()
            // nil: cancelled before Welcome, as the stream failed (and says why).
            guard let welcome = await next.next() else { return .userQuit }
            console.start()
            return await readCommands(welcome: welcome)
          }
          // Whichever ends first ends the session; the other is cancelled.
          let end = await group.next()!
          group.cancelAll()
          return end
        }
      }
    } catch {
      return .refused(error)
    }
  }

  /// Prints events until the stream ends; passes Welcome on to `welcome`.
  private func printEvents(
    _ events: RPCAsyncSequence<Chat_V1_Event, any Error>, welcome: AsyncStream<Chat_V1_Welcome>.Continuation
  ) async -> End {
    var welcomed = false
    do {
      for try await event in events {
        console.print(formatter.line(for: event))
        if !welcomed, case .welcome(let message) = event.kind {
          welcomed = true
          welcome.yield(message)
          welcome.finish()
        }
      }
      return .streamEnded(nil)
    } catch {
      return welcomed ? .streamEnded(error) : .refused(error)
    }
  }

  /// Runs commands until `/quit` or the end of input; every call carries
  /// the authorization for the session `welcome` began.
  private func readCommands(welcome: Chat_V1_Welcome) async -> End {
    let calls = GRPCChatCalls(
      chat: chat, metadata: ["authorization": .string(authorization.value(for: welcome))], options: Self.callOptions)
    var runner = CommandRunner(
      calls: RetryingChatCalls(calls), output: console, formatter: formatter, username: welcome.username,
      authorization: authorization)
    for await line in console.lines {
      if console.echoesInput { console.print(formatter.echo(line)) }
      if await runner.run(line) == .quit { return .userQuit }
    }
    return .userQuit
  }
}

/// The session's calls over gRPC, each with the session's authorization.
struct GRPCChatCalls: ChatCalls {
  let chat: Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>
  let metadata: Metadata
  let options: CallOptions

  func createGroup(_ group: String) async throws {
    _ = try await chat.createGroupChat(.with { $0.group = group }, metadata: metadata, options: options)
  }

  func joinGroup(_ group: String) async throws {
    _ = try await chat.joinGroupChat(.with { $0.group = group }, metadata: metadata, options: options)
  }

  func leaveGroup(_ group: String) async throws {
    _ = try await chat.leaveGroupChat(.with { $0.group = group }, metadata: metadata, options: options)
  }

  func listChannels() async throws -> [Chat_V1_Channel] {
    try await chat.listChannels(.init(), metadata: metadata, options: options).channels
  }

  func send(_ text: String, to target: ChatTarget) async throws {
    _ = try await chat.sendMessage(
      .with {
        $0.to = target.channel
        $0.text = text
      },
      metadata: metadata,
      options: options)
  }
}
