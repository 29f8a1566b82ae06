import ChatTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

/// `chat-server &` in a shell with job control: the server runs in a
/// process group of its own, in the background of the shell's terminal.
@Suite("Operator console of a server in the background of its terminal")
struct ConsoleBackgroundTests {
  @Test("in the background a keystroke neither stops the server nor closes the console; in the foreground the console takes the terminal")
  func backgroundThenForeground() async throws {
    let home = try ConsoleTerminalTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: home) }
    let job = try BackgroundJob.start(
      ["--port", "0", "--store", "memory", "--history-file", home.appendingPathComponent("history").path],
      environment: ConsoleTerminalTests.environment(home: home))
    defer { job.kill() }
    let screen = job.terminal

    let log = try await screen.waitFor(" listening on 127.0.0.1:", timeout: 20)
    let address = log.split(separator: " listening on ", maxSplits: 1)[1].prefix { !$0.isWhitespace }
    let port = try #require(address.split(separator: ":").last.flatMap { Int($0) })
    try await screen.waitFor(" notice console started ")
    let server = try await job.serverPID()

    // Reading now would stop the whole server with SIGTTIN. The gRPC round
    // trip after the keystroke gives a server that reacts to it the time to.
    try job.type("\r")
    let alice = try await TestUser.connect("alice", port: port)
    #expect(try await alice.list().map(\.name) == ["alice"])
    #expect(try processState(server) != "T")
    // Nor may the read fail for good: that closed the console.
    #expect(!screen.text.contains("console closed"))
    try await screen.waitFor(" notice console paused: the server is in the background of its terminal")
    #expect(!screen.text.contains("chat> "))

    try job.bringToForeground()
    try await screen.waitFor(" notice console resumed in the foreground")
    try await screen.waitFor("chat> ")
    try job.type("users\r")
    try await screen.waitUntil("the users reply") { $0.lineCount(equalTo: "1 user: 1 guest, 0 accounts") == 1 }

    alice.close()
    try job.type("shutdown\r")
    // The shell's `fg` returns the server's exit status, and the shell exits with it.
    #expect(try await job.shellExitStatus() == 0)
  }
}

/// The state letter of /proc/PID/stat: R, S, T (stopped), ….
func processState(_ pid: pid_t) throws -> Character {
  let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
  // `PID (command) STATE …`; the command may hold spaces and parentheses.
  let afterCommand = try #require(stat.range(of: ") ", options: .backwards))
  return try #require(stat[afterCommand.upperBound...].first)
}

/// `/bin/sh` with job control, as the session leader of a new pseudo-terminal,
/// running `chat-server ARGS &` and waiting, in the foreground of the
/// terminal, until the test tells it to `fg` the server.
final class BackgroundJob: Sendable {
  let shell: pid_t
  let terminal: OutputCollector
  private let input: FileHandle
  /// The shell reads a line from this (its fd 3) before it runs `fg`.
  private let control: FileHandle
  private let exit: AsyncStream<Int32>
  /// Once reaped, the shell's pid may belong to another process.
  private let reaped = Mutex(false)

  private static let script = """
    set -m
    "$0" "$@" &
    echo "server pid $!"
    read -r line <&3
    fg >/dev/null
    """

  struct SpawnFailed: Error, CustomStringConvertible {
    let what: String
    let errno: Int32
    var description: String { "\(what) failed: \(String(cString: strerror(errno)))" }
  }

  static func start(_ arguments: [String], environment: [String: String]) throws -> BackgroundJob {
    var controller: Int32 = -1
    var terminal: Int32 = -1
    var size = winsize(ws_row: 24, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0)
    guard openpty(&controller, &terminal, nil, nil, &size) == 0 else { throw SpawnFailed(what: "openpty", errno: errno) }
    _ = fcntl(controller, F_SETFD, FD_CLOEXEC)
    _ = fcntl(terminal, F_SETFD, FD_CLOEXEC)
    defer { close(terminal) }
    var path = [CChar](repeating: 0, count: 256)
    guard ttyname_r(terminal, &path, path.count) == 0 else { throw SpawnFailed(what: "ttyname_r", errno: errno) }
    var pipe: [Int32] = [-1, -1]
    guard Glibc.pipe(&pipe) == 0 else { throw SpawnFailed(what: "pipe", errno: errno) }
    // The shell gets the read end as fd 3 (dup2 clears the flag), nobody else either end.
    for fd in pipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    defer { close(pipe[0]) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // Opened after setsid(), the terminal becomes the shell's controlling terminal.
    posix_spawn_file_actions_addopen(&actions, 0, path, O_RDWR, 0)
    posix_spawn_file_actions_adddup2(&actions, 0, 1)
    posix_spawn_file_actions_adddup2(&actions, 0, 2)
    posix_spawn_file_actions_adddup2(&actions, pipe[0], 3)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    // Job-control signals as a login shell has them, whatever the test runner ignores.
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTTIN, SIGTTOU, SIGTSTP, SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)
    // POSIX_SPAWN_SETSID (glibc's 0x80) is not imported into Swift.
    let setsid: Int32 = 0x80
    posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    let arguments = ["/bin/sh", "-c", script, try ServerProcess.executable.path] + arguments
    let environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, envp)
    guard spawned == 0 else {
      close(controller)
      close(pipe[1])
      throw SpawnFailed(what: "posix_spawn", errno: spawned)
    }
    return BackgroundJob(
      shell: pid, terminal: OutputCollector(name: "terminal", reading: controller),
      input: FileHandle(fileDescriptor: dup(controller), closeOnDealloc: true),
      control: FileHandle(fileDescriptor: pipe[1], closeOnDealloc: true))
  }

  private init(shell: pid_t, terminal: OutputCollector, input: FileHandle, control: FileHandle) {
    self.shell = shell
    self.terminal = terminal
    self.input = input
    self.control = control
    let (exit, continuation) = AsyncStream.makeStream(of: Int32.self)
    self.exit = exit
    let waiter = Thread { [self] in
      var status: Int32 = 0
      while waitpid(shell, &status, 0) < 0 && errno == EINTR {}
      self.reaped.withLock { $0 = true }
      // WIFEXITED and WEXITSTATUS are macros Swift does not import.
      continuation.yield(status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + status & 0x7F)
      continuation.finish()
    }
    waiter.start()
  }

  /// The server's pid, which the shell prints; it leads its own process group.
  func serverPID() async throws -> pid_t {
    // Followed by the end of the line, so that the number is whole.
    let text = try await terminal.waitUntil("the server's pid") { $0.contains(/server pid \d+\s/) }
    let match = try #require(text.firstMatch(of: /server pid (\d+)\s/))
    return try #require(pid_t(match.1))
  }

  func type(_ text: String) throws {
    try input.write(contentsOf: Data(text.utf8))
  }

  /// Makes the shell run `fg`.
  func bringToForeground() throws {
    try control.write(contentsOf: Data("fg\n".utf8))
  }

  func shellExitStatus(within seconds: Double = 5) async throws -> Int32 {
    let status = try await withTimeout(seconds, "the shell to exit") { [exit] in await exit.first { _ in true } }
    return try #require(status)
  }

  /// Ends the shell and the server, whatever state they are in (a stopped
  /// server included), if they are still there.
  func kill() {
    if let text = terminal.text.firstMatch(of: /server pid (\d+)/), let server = pid_t(text.1) {
      _ = Glibc.kill(-server, SIGKILL)
    }
    reaped.withLock { reaped in
      if !reaped { _ = Glibc.kill(shell, SIGKILL) }
    }
  }
}
