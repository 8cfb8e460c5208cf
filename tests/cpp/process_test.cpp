#include "common/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A fresh temporary folder, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mlflow-bridge-process-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Fields of /proc/<pid>/stat after the command name: [0] is the state, [1] the
// parent pid, [2] the process group, [19] the start time.
std::vector<std::string> ProcStat(int pid) {
  std::string line = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> fields;
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields;
}

// Running: exists and is not a zombie.
bool Running(int pid) {
  auto f = ProcStat(pid);
  return !f.empty() && f[0] != "Z" && f[0] != "X";
}

ProcessId IdOf(int pid) {
  auto f = ProcStat(pid);
  return ProcessId{pid, f.size() > 19 ? std::stoull(f[19]) : 0ULL};
}

// Polls `pred` for up to `limit`; a bound on waiting, not a timing assertion.
template <typename Pred>
bool WaitFor(Pred pred, milliseconds limit = milliseconds(10'000)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred();
}

std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::vector<std::string> BasicEnv() { return {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"}; }

SpawnSpec Spec(std::vector<std::string> argv, const fs::path& log) {
  SpawnSpec spec;
  spec.argv = std::move(argv);
  spec.env = BasicEnv();
  spec.log_path = log.string();
  return spec;
}

// Best effort, for tests that leave a process behind when the code under test is wrong.
void KillIfRunning(int pid) {
  if (pid > 0 && Running(pid)) kill(pid, SIGKILL);
}

// ---------------------------------------------------------------------------
// SpawnDetached, IsAlive, StopProcess

TEST(ProcessTest, SpawnDetachedSurvivesAndStops) {
  TempDir dir;
  auto id = SpawnDetached(Spec({"/bin/sleep", "30"}, dir.path() / "log"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_GT(id->pid, 0);
  EXPECT_GT(id->start_time, 0u);
  EXPECT_EQ(IdOf(id->pid).start_time, id->start_time);
  EXPECT_TRUE(IsAlive(*id));

  // Detached: not our child (double fork), in its own session.
  auto stat = ProcStat(id->pid);
  ASSERT_GT(stat.size(), 3u);
  EXPECT_NE(std::stoi(stat[1]), getpid());
  EXPECT_NE(getsid(id->pid), getsid(0));
  // Still running a moment later (not killed when its launcher exited).
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(IsAlive(*id));

  Status stopped = StopProcess(*id, milliseconds(5000), *SystemClock());
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  EXPECT_FALSE(IsAlive(*id));
  EXPECT_FALSE(Running(id->pid));

  // Stopping what is gone is OK.
  EXPECT_TRUE(StopProcess(*id, milliseconds(100), *SystemClock()).ok());
  KillIfRunning(id->pid);
}

TEST(ProcessTest, WrongStartTimeIsNotAlive) {
  TempDir dir;
  auto id = SpawnDetached(Spec({"/bin/sleep", "30"}, dir.path() / "log"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ProcessId other = *id;
  other.start_time += 1;  // a recycled pid: same number, another process
  EXPECT_FALSE(IsAlive(other));
  // Nor is it stopped in the name of the other one.
  EXPECT_TRUE(StopProcess(other, milliseconds(100), *SystemClock()).ok());
  EXPECT_TRUE(IsAlive(*id));
  EXPECT_TRUE(StopProcess(*id, milliseconds(5000), *SystemClock()).ok());
  EXPECT_FALSE(IsAlive(*id));
  KillIfRunning(id->pid);
}

TEST(ProcessTest, InvalidIdsAreNotAlive) {
  EXPECT_FALSE(IsAlive(ProcessId{0, 0}));
  EXPECT_FALSE(IsAlive(ProcessId{-1, 0}));
  EXPECT_TRUE(StopProcess(ProcessId{0, 0}, milliseconds(10), *SystemClock()).ok());
}

TEST(ProcessTest, OwnProcessIsAlive) { EXPECT_TRUE(IsAlive(IdOf(getpid()))); }

TEST(ProcessTest, SpawnMissingProgramNamesIt) {
  TempDir dir;
  std::string missing = (dir.path() / "no-such-python").string();
  auto id = SpawnDetached(Spec({missing, "-m", "uvicorn"}, dir.path() / "log"));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(id.status().message().find(missing), std::string::npos) << id.status().message();
}

TEST(ProcessTest, SpawnNonExecutableFileFails) {
  TempDir dir;
  fs::path script = dir.path() / "not-executable";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  auto id = SpawnDetached(Spec({script.string()}, dir.path() / "log"));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(id.status().message().find(script.string()), std::string::npos) << id.status().message();
}

TEST(ProcessTest, SpawnEmptyArgvFails) {
  TempDir dir;
  auto id = SpawnDetached(Spec({}, dir.path() / "log"));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidParameterValue);
}

TEST(ProcessTest, LogReceivesStdoutAndStderr) {
  TempDir dir;
  fs::path log = dir.path() / "server.log";
  std::ofstream(log) << "earlier line\n";  // appended to, not truncated
  auto id = SpawnDetached(Spec({"/bin/sh", "-c", "echo hello; echo err >&2"}, log));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return !IsAlive(*id); }));
  EXPECT_EQ(ReadFile(log), "earlier line\nhello\nerr\n");
}

TEST(ProcessTest, EnvironmentIsExactlyTheGivenOne) {
  TempDir dir;
  fs::path log = dir.path() / "log";
  SpawnSpec spec = Spec({"/bin/sh", "-c", "echo \"[$MB_TEST_VAR][${HOME-unset}]\""}, log);
  spec.env.push_back("MB_TEST_VAR=value with spaces");
  auto id = SpawnDetached(spec);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return !IsAlive(*id); }));
  EXPECT_EQ(ReadFile(log), "[value with spaces][unset]\n");
}

TEST(ProcessTest, ListenFdIsFd3InTheChild) {
  TempDir dir;
  fs::path log = dir.path() / "log";
  auto fd = BindSharedPort(0);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  int port = LocalPort(*fd);
  // A descriptor of ours without close-on-exec: it must not reach the child.
  fs::path leak = dir.path() / "leaky-file";
  int leaky = open(leak.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(leaky, 0);

  std::string python = FindOnPath("python3");
  ASSERT_FALSE(python.empty()) << "python3 is not on PATH";
  SpawnSpec spec =
      Spec({python, "-c",
            "import os, socket\n"
            "s = socket.socket(fileno=3)\n"
            "print('port', s.getsockname()[1])\n"
            "print('reuseport', s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))\n"
            "print('links', [os.readlink('/proc/self/fd/' + f) for f in sorted(os.listdir('/proc/self/fd'))])\n"},
           log);
  spec.listen_fd = *fd;
  auto id = SpawnDetached(spec);
  close(leaky);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return !IsAlive(*id); }));
  std::string out = ReadFile(log);
  EXPECT_NE(out.find("port " + std::to_string(port) + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("reuseport 1\n"), std::string::npos) << out;
  EXPECT_EQ(out.find(leak.string()), std::string::npos) << "descriptor leaked into the child:\n" << out;
  close(*fd);
}

TEST(ProcessTest, Fd3IsClosedWithoutListenFd) {
  TempDir dir;
  fs::path log = dir.path() / "log";
  auto id = SpawnDetached(Spec({"/bin/sh", "-c", "if [ -e /proc/$$/fd/3 ]; then echo open; else echo closed; fi"}, log));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return !IsAlive(*id); }));
  EXPECT_EQ(ReadFile(log), "closed\n");
}

// The server leads its own process group, so that StopProcess reaches its
// workers too ("SIGTERM to the process group").
TEST(ProcessTest, SpawnedProcessLeadsItsProcessGroup) {
  TempDir dir;
  auto id = SpawnDetached(Spec({"/bin/sleep", "30"}, dir.path() / "log"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(getpgid(id->pid), id->pid);
  EXPECT_TRUE(StopProcess(*id, milliseconds(5000), *SystemClock()).ok());
  KillIfRunning(id->pid);
}

// A worker of the server (here: a background child of a shell) is stopped with it.
TEST(ProcessTest, StopProcessStopsTheWholeGroup) {
  TempDir dir;
  fs::path pidfile = dir.path() / "worker.pid";
  auto id = SpawnDetached(
      Spec({"/bin/sh", "-c", "/bin/sleep 30 & echo $! > '" + pidfile.string() + "'; wait"}, dir.path() / "log"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return ReadFile(pidfile).find('\n') != std::string::npos; }));
  int worker = std::stoi(ReadFile(pidfile));
  ASSERT_TRUE(Running(worker));

  EXPECT_TRUE(StopProcess(*id, milliseconds(5000), *SystemClock()).ok());
  EXPECT_FALSE(IsAlive(*id));
  EXPECT_TRUE(WaitFor([&] { return !Running(worker); }, milliseconds(2000)))
      << "worker " << worker << " survived StopProcess of its server " << id->pid;
  KillIfRunning(worker);
}

// The leader has exited but a worker still runs (and would hold the port):
// StopProcess stops the worker and returns only when it is gone.
TEST(ProcessTest, StopProcessStopsWorkersThatOutliveTheirLeader) {
  TempDir dir;
  fs::path pidfile = dir.path() / "worker.pid";
  auto id =
      SpawnDetached(Spec({"/bin/sh", "-c", "/bin/sleep 30 & echo $! > '" + pidfile.string() + "'"}, dir.path() / "log"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return ReadFile(pidfile).find('\n') != std::string::npos; }));
  int worker = std::stoi(ReadFile(pidfile));
  ASSERT_TRUE(WaitFor([&] { return !IsAlive(*id); }));
  ASSERT_TRUE(Running(worker));
  EXPECT_TRUE(StopProcess(*id, milliseconds(5000), *SystemClock()).ok());
  EXPECT_FALSE(Running(worker)) << "worker " << worker << " outlived StopProcess";
  KillIfRunning(worker);
}

// The main thread is gone but another thread still runs and holds the
// process's files (its listening socket): the process is alive until it is not.
TEST(ProcessTest, AProcessWhoseMainThreadExitedIsAliveWhileItsThreadsRun) {
  TempDir dir;
  auto id = SpawnDetached(Spec({"/usr/bin/env", "python3", "-c",
                                "import ctypes, threading, time\n"
                                "threading.Thread(target=time.sleep, args=(30,)).start()\n"
                                "ctypes.CDLL(None).pthread_exit(None)\n"},
                               dir.path() / "log"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto leader_zombie = [&] {
    std::ifstream in("/proc/" + std::to_string(id->pid) + "/stat");
    std::string line;
    std::getline(in, line);
    auto close = line.rfind(')');
    return close != std::string::npos && line.substr(close + 2, 1) == "Z";
  };
  ASSERT_TRUE(WaitFor(leader_zombie)) << ReadFile(dir.path() / "log");
  EXPECT_TRUE(IsAlive(*id));
  EXPECT_TRUE(StopProcess(*id, milliseconds(5000), *SystemClock()).ok());
  EXPECT_FALSE(IsAlive(*id));
}

// SIGTERM ignored: after the grace period, SIGKILL to the group.
TEST(ProcessTest, StopProcessEscalatesToSigkill) {
  TempDir dir;
  fs::path pidfile = dir.path() / "worker.pid";
  auto id = SpawnDetached(Spec({"/bin/sh", "-c", "trap '' TERM; /bin/sleep 30 & echo $! > '" + pidfile.string() + "'; wait"},
                               dir.path() / "log"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return ReadFile(pidfile).find('\n') != std::string::npos; }));
  int worker = std::stoi(ReadFile(pidfile));

  Status stopped = StopProcess(*id, milliseconds(300), *SystemClock());
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  EXPECT_FALSE(IsAlive(*id));
  EXPECT_TRUE(WaitFor([&] { return !Running(worker); }, milliseconds(2000)))
      << "worker " << worker << " survived SIGKILL of its server " << id->pid;
  KillIfRunning(worker);
}

// ---------------------------------------------------------------------------
// RunForeground

StatusOr<int> RunFg(const SpawnSpec& spec) { return RunForeground(spec, nullptr, milliseconds(1000), *SystemClock()); }

TEST(ProcessTest, RunForegroundReturnsExitCode) {
  auto zero = RunFg(Spec({"/bin/sh", "-c", "exit 0"}, ""));
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(*zero, 0);
  auto seven = RunFg(Spec({"/bin/sh", "-c", "exit 7"}, ""));
  ASSERT_TRUE(seven.ok()) << seven.status().ToString();
  EXPECT_EQ(*seven, 7);
  auto killed = RunFg(Spec({"/bin/sh", "-c", "kill -TERM $$"}, ""));
  ASSERT_TRUE(killed.ok()) << killed.status().ToString();
  EXPECT_EQ(*killed, 128 + SIGTERM);
  // Never interrupted: runs to the end.
  auto never = RunForeground(
      Spec({"/bin/sh", "-c", "exit 3"}, ""), [] { return false; }, milliseconds(10), *SystemClock());
  ASSERT_TRUE(never.ok()) << never.status().ToString();
  EXPECT_EQ(*never, 3);
}

TEST(ProcessTest, RunForegroundMissingProgram) {
  auto r = RunFg(Spec({"/nonexistent/python3"}, ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(r.status().message().find("/nonexistent/python3"), std::string::npos) << r.status().message();
  EXPECT_FALSE(RunFg(Spec({}, "")).ok());
}

TEST(ProcessTest, RunForegroundPassesListenFd) {
  auto fd = BindSharedPort(0);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  SpawnSpec spec = Spec({"/bin/sh", "-c", "[ -S /proc/$$/fd/3 ]"}, "");
  spec.listen_fd = *fd;
  auto r = RunFg(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 0);
  close(*fd);
}

TEST(ProcessTest, RunForegroundInterruptedGetsSigint) {
  std::atomic<int> polls{0};
  auto r = RunForeground(
      Spec({"/bin/sleep", "30"}, ""), [&] { return ++polls >= 3; }, milliseconds(5000), *SystemClock());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 128 + SIGINT);
  EXPECT_GE(polls.load(), 3);
}

TEST(ProcessTest, RunForegroundInterruptedEscalatesToSigkill) {
  // SIGINT ignored (inherited through exec): killed once the grace period is over.
  TempDir dir;
  fs::path marker = dir.path() / "trapped";
  auto r = RunForeground(
      Spec({"/bin/sh", "-c", "trap '' INT; : > '" + marker.string() + "'; exec /bin/sleep 30"}, ""),
      [&] { return fs::exists(marker); }, milliseconds(200), *SystemClock());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 128 + SIGKILL);
}

// ---------------------------------------------------------------------------
// Ports

int PlainListener(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(ProcessTest, BindSharedPortAnyPort) {
  auto fd = BindSharedPort(0);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_GT(LocalPort(*fd), 0);
  EXPECT_FALSE(IsListening(*fd));
  EXPECT_NE(fcntl(*fd, F_GETFD) & FD_CLOEXEC, 0);
  close(*fd);
}

TEST(ProcessTest, BindSharedPortTwiceOnOnePort) {
  auto a = BindSharedPort(0);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  int port = LocalPort(*a);
  auto b = BindSharedPort(port);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(LocalPort(*b), port);
  // Also while the first one is listening (an update while serving).
  ASSERT_EQ(listen(*a, 16), 0);
  auto c = BindSharedPort(port);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  close(*a);
  close(*b);
  close(*c);
}

TEST(ProcessTest, BindSharedPortOnPlainListenerFails) {
  int plain = PlainListener(0);
  ASSERT_GE(plain, 0);
  int port = LocalPort(plain);
  auto fd = BindSharedPort(port);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(fd.status().message().find(std::to_string(port)), std::string::npos);
  close(plain);
}

TEST(ProcessTest, CheckPortFreeOnFreePort) {
  int plain = PlainListener(0);
  ASSERT_GE(plain, 0);
  int port = LocalPort(plain);
  close(plain);
  Status s = CheckPortFree(port);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(ProcessTest, CheckPortFreeFailsOnPlainListener) {
  int plain = PlainListener(0);
  ASSERT_GE(plain, 0);
  int port = LocalPort(plain);
  Status s = CheckPortFree(port);
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(port)), std::string::npos) << s.message();
  close(plain);
}

TEST(ProcessTest, CheckPortFreeFailsOnListeningSharedPort) {
  // (A bound socket that does not listen yet is invisible to this check; the
  // local client serialises claims on a port with a lock file for that.)
  auto fd = BindSharedPort(0);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  ASSERT_EQ(listen(*fd, 16), 0);
  int port = LocalPort(*fd);
  Status s = CheckPortFree(port);
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue) << s.ToString();
  close(*fd);
}

TEST(ProcessTest, AcceptedConnectionsHaveNoDelay) {
  // The server takes the socket as a bare fd and cannot set TCP_NODELAY
  // itself; accepted connections must inherit it from the listening socket.
  auto fd = BindSharedPort(0);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  ASSERT_EQ(listen(*fd, 16), 0);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(LocalPort(*fd)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  int accepted = accept(*fd, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  int nodelay = 0;
  socklen_t len = sizeof nodelay;
  ASSERT_EQ(getsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_NE(nodelay, 0);
  close(accepted);
  close(client);
  close(*fd);
}

TEST(ProcessTest, IsListening) {
  auto fd = BindSharedPort(0);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_FALSE(IsListening(*fd));
  ASSERT_EQ(listen(*fd, 16), 0);
  EXPECT_TRUE(IsListening(*fd));
  close(*fd);
  EXPECT_FALSE(IsListening(-1));
  EXPECT_EQ(LocalPort(-1), 0);
}

// ---------------------------------------------------------------------------
// SteerToNewest

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Connects `n` times and counts, per listener, the connections accepted.
std::vector<int> Distribute(int port, const std::vector<int>& listeners, int n) {
  std::vector<int> counts(listeners.size(), 0);
  for (int i = 0; i < n; ++i) {
    int client = Connect(port);
    EXPECT_GE(client, 0) << "connect " << i;
    if (client < 0) continue;
    std::vector<pollfd> fds;
    for (int l : listeners) fds.push_back(pollfd{l, POLLIN, 0});
    int ready = poll(fds.data(), fds.size(), 5000);
    EXPECT_GT(ready, 0) << "connection " << i << " was never accepted";
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents & POLLIN) {
        int accepted = accept4(listeners[k], nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (accepted >= 0) {
          ++counts[k];
          close(accepted);
        }
      }
    }
    close(client);
  }
  return counts;
}

TEST(ProcessTest, SteerToNewestSendsNewConnectionsToLastListener) {
  auto a = BindSharedPort(0);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  int port = LocalPort(*a);
  auto b = BindSharedPort(port);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(listen(*a, 64), 0);
  ASSERT_EQ(listen(*b, 64), 0);
  Status s = SteerToNewest(*b);
  ASSERT_TRUE(s.ok()) << s.ToString();

  auto counts = Distribute(port, {*a, *b}, 10);
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 10);

  close(*b);
  counts = Distribute(port, {*a}, 10);
  EXPECT_EQ(counts[0], 10);
  close(*a);
}

// A third server (the next update) takes over from the second.
TEST(ProcessTest, SteerToNewestAcrossTwoUpdates) {
  auto a = BindSharedPort(0);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  int port = LocalPort(*a);
  ASSERT_EQ(listen(*a, 64), 0);
  ASSERT_TRUE(SteerToNewest(*a).ok());  // a single server: the program must not get in the way
  EXPECT_EQ(Distribute(port, {*a}, 5)[0], 5);

  auto b = BindSharedPort(port);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(listen(*b, 64), 0);
  ASSERT_TRUE(SteerToNewest(*b).ok());
  EXPECT_EQ(Distribute(port, {*a, *b}, 10)[1], 10);
  close(*a);  // the old server stops
  EXPECT_EQ(Distribute(port, {*b}, 5)[0], 5);

  auto c = BindSharedPort(port);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(listen(*c, 64), 0);
  ASSERT_TRUE(SteerToNewest(*c).ok());
  auto counts = Distribute(port, {*b, *c}, 10);
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 10);
  close(*b);
  close(*c);
}

// What the old server's listening socket holds and has not accepted: an update lets it accept those before
// it stops (closing the socket would reset them).
TEST(ProcessTest, QueuedOnOtherListenersCountsTheOldAcceptQueue) {
  auto a = BindSharedPort(0);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  int port = LocalPort(*a);
  ASSERT_EQ(listen(*a, 64), 0);
  int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);  // queued on a, not accepted
  auto b = BindSharedPort(port);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(listen(*b, 64), 0);
  ASSERT_TRUE(SteerToNewest(*b).ok());
  auto queued = QueuedOnOtherListeners(*b);
  ASSERT_TRUE(queued.ok()) << queued.status().ToString();
  EXPECT_EQ(*queued, 1);
  EXPECT_EQ(QueuedOnOtherListeners(*a).value(), 0);  // b's queue is empty
  int accepted = accept(*a, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(QueuedOnOtherListeners(*b).value(), 0);
  for (int fd : {accepted, client, *a, *b}) close(fd);
}

TEST(ProcessTest, SteerToNewestOnBadFdFails) {
  Status s = SteerToNewest(-1);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInternalError);
}

}  // namespace
}  // namespace mlflow_bridge::internal
